"""Build the core and pack wheels the way a release does (``uv build --wheel``), for tests and for
trying glowops from a clean virtual environment (docs/instrument-your-service.md)::

    python tests/wheels.py dist/        # dist/glowops-*.whl and dist/glowops_prismaglow-*.whl
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {"glowops": ROOT, "glowops_prismaglow": ROOT / "packs" / "prismaglow"}


def uv_command() -> list[str] | None:
    """``uv`` on PATH, else ``python -m uv`` when it is installed, else None."""
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, check=False)
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


def build_wheels(out: Path, names: tuple[str, ...] = tuple(PROJECTS)) -> dict[str, Path]:
    """Build the named distributions' wheels into ``out``: ``{name: wheel path}``."""
    uv = uv_command()
    if uv is None:
        raise RuntimeError("uv is needed to build the wheels (pip install uv)")
    wheels = {}
    for name in names:
        done = subprocess.run(
            [*uv, "build", "--wheel", "--out-dir", str(out), str(PROJECTS[name])],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"building the {name} wheel failed:\n{done.stderr[-2000:]}")
        (wheels[name],) = out.glob(f"{name}-*.whl")
    return wheels


if __name__ == "__main__":
    for path in build_wheels(Path(sys.argv[1] if len(sys.argv) > 1 else "dist")).values():
        print(path)
