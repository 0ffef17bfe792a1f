"""The arrows point one way: the core never imports a pack or the gateway; the pack uses the core.

Checked twice: statically (every import statement of ``src/glowops``) and at run time (every
module of glowops imported in a fresh interpreter leaves no pack or gateway module loaded).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "glowops"
FORBIDDEN = ("glowops_prismaglow", "prisma_glow_gateway")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_core_module_imports_a_pack_or_the_gateway() -> None:
    offenders = []
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 100  # the walk found the core
    for path in files:
        for module in imported_modules(path):
            if module.split(".", 1)[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_check_would_catch_an_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n    from glowops_prismaglow.rules import alerts\n    import prisma_glow_gateway.app\n"
    )
    assert imported_modules(bad) == {"glowops_prismaglow.rules", "prisma_glow_gateway.app"}


IMPORT_EVERYTHING = textwrap.dedent("""
    import importlib, pkgutil, sys
    import glowops
    for info in pkgutil.walk_packages(glowops.__path__, "glowops."):
        importlib.import_module(info.name)
    outside = {"glowops_prismaglow", "prisma_glow_gateway"}
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in outside)
    print(len([m for m in sys.modules if m.startswith("glowops.")]), loaded)
""")


def test_importing_all_of_glowops_loads_no_pack_and_no_gateway() -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    count, loaded = out.stdout.split(" ", 1)
    assert int(count) > 100
    assert loaded.strip() == "[]"


def test_the_pack_uses_only_glowops() -> None:
    pack_dir = ROOT / "packs" / "prismaglow" / "src" / "glowops_prismaglow"
    for path in pack_dir.rglob("*.py"):
        for module in imported_modules(path):
            assert module.split(".", 1)[0] != "prisma_glow_gateway", f"{path.name} imports the gateway"
