"""The Prisma Glow pack as a distribution: its wheel carries the entry point and the runbooks,
and depends on glowops, never on the gateway."""

from __future__ import annotations

import zipfile
from pathlib import Path

from peers import missing_peer
from wheels import build_wheels, uv_command

ROOT = Path(__file__).resolve().parents[2]


def test_the_pack_wheel_has_its_entry_point_runbooks_and_only_glowops_as_dependency(tmp_path: Path) -> None:
    if uv_command() is None:
        missing_peer("uv (to build the wheel)")
    wheel = build_wheels(tmp_path, ("glowops_prismaglow",))["glowops_prismaglow"]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        entry_text = archive.read(entry_points).decode()
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert "[glowops.packs]" in entry_text and "prismaglow = glowops_prismaglow:pack" in entry_text
    pages = ROOT / "packs" / "prismaglow" / "src" / "glowops_prismaglow" / "runbooks" / "alerts"
    for page in pages.glob("*.md"):
        assert f"glowops_prismaglow/runbooks/alerts/{page.name}" in names
    assert requires == ["glowops"]
