"""`pip install glowops` from a built wheel in a clean venv: a small core, its CLI, no gateway.

The wheel is built from this checkout (``uv build``, as ``make env`` provides uv) and installed
with the machine's own pip configuration (its package index), as a new user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peers import missing_peer

ROOT = Path(__file__).resolve().parents[1]
MAX_DEPENDENCIES = 15  # distributions the core pulls besides itself (pip and setuptools aside)
GATEWAY_COMMANDS = ("serve", "db", "demo")


def _uv() -> list[str]:
    for python in (sys.executable, shutil.which("python3")):
        if python and subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return [python, "-m", "uv"]
    found = shutil.which("uv")
    if found:
        return [found]
    missing_peer("uv (make env installs it with `python3 -m pip install uv`)")
    raise AssertionError("unreachable")


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the core wheel installed."""
    work = tmp_path_factory.mktemp("core-install")
    _run([*_uv(), "build", "--wheel", "--package", "glowops", "--out-dir", str(work / "dist")], cwd=ROOT)
    wheels = list((work / "dist").glob("glowops-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", str(venv)])
    # the machine's pip configuration (index, find-links) applies: nothing is passed here
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheels[0])])
    return venv


def _clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLOWOPS_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_core_pulls_a_small_set_of_distributions(core_venv: Path) -> None:
    listing = _run([str(core_venv / "bin" / "python"), "-m", "pip", "list", "--format=json"])
    names = {d["name"].lower() for d in json.loads(listing.stdout)} - {"pip", "setuptools", "glowops"}
    assert len(names) <= MAX_DEPENDENCIES, sorted(names)
    for heavy in ("typer", "rich", "boto3", "sqlalchemy", "redis", "httpx", "sentry-sdk", "jinja2"):
        assert heavy not in names, f"{heavy} is installed with the core: {sorted(names)}"


def test_glowops_help_works_and_has_no_gateway_commands(core_venv: Path, tmp_path: Path) -> None:
    env = _clean_env(core_venv)
    shown = _run([str(core_venv / "bin" / "glowops"), "--help"], env=env, cwd=tmp_path)
    commands = shown.stdout.split("Commands:", 1)[1].split()
    for expected in ("health", "alerts", "dashboards", "backup", "runbook", "deploy"):
        assert expected in commands, shown.stdout
    for name in GATEWAY_COMMANDS:
        assert name not in commands, f"`glowops {name}` is a gateway command:\n{shown.stdout}"
    # without rich, tables are plain text
    listed = _run([str(core_venv / "bin" / "glowops"), "runbook", "--list"], env=env, cwd=tmp_path)
    assert "HighErrorRate" in listed.stdout and "alerts/" in listed.stdout
    config = _run([str(core_venv / "bin" / "glowops"), "config", "show"], env=env, cwd=tmp_path)
    assert "service_name" in config.stdout


def test_instrument_names_the_extra_a_part_needs(core_venv: Path, tmp_path: Path) -> None:
    probe = (
        "from starlette.applications import Starlette\n"
        "import glowops\n"
        "from glowops.settings import ConfigError, Settings\n"
        "try:\n"
        "    glowops.instrument(Starlette(), Settings(embedded_alerting=True))\n"
        "except ConfigError as err:\n"
        "    print('REFUSED', err)\n"
        "app = glowops.instrument(Starlette(), Settings(embedded_alerting=False, console=False))\n"
        "print('INSTRUMENTED', type(app._glowops_instrumented).__name__)\n"
    )
    env = {**_clean_env(core_venv), "GLOWOPS_STATE_DIR": str(tmp_path / "var")}
    done = _run([str(core_venv / "bin" / "python"), "-c", probe], env=env, cwd=tmp_path)
    assert "REFUSED" in done.stdout and "glowops[http]" in done.stdout, done.stdout
    assert "INSTRUMENTED InstrumentState" in done.stdout, done.stdout + done.stderr
