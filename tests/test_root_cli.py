"""The root command: every sub-command is listed, loads, and loads only what it needs."""

from __future__ import annotations

import importlib
import subprocess
import sys

from click.testing import CliRunner

import glowops
from glowops.cli import COMMANDS, app, load_command


def test_every_listed_command_loads_under_its_name() -> None:
    for name, *_ in COMMANDS:
        command = load_command(name)
        assert command is not None, f"glowops {name}: listed in COMMANDS but not found in its module"
        assert command.name == name


def test_no_command_of_a_merged_module_is_left_out() -> None:
    listed = {name for name, *_ in COMMANDS}
    for _, module, attr, merged in COMMANDS:
        if merged:
            group = getattr(importlib.import_module(module), attr)
            missing = set(group.commands) - listed
            assert not missing, f"{module} defines {missing}: add them to glowops.cli.COMMANDS"


def test_help_lists_every_command_and_version_prints() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["--help"], terminal_width=200)
    assert shown.exit_code == 0
    for name, *_ in COMMANDS:
        assert f" {name} " in shown.output
    version = runner.invoke(app, ["--version"])
    assert version.output.strip() == f"glowops {glowops.__version__}"
    unknown = runner.invoke(app, ["nonsense"])
    assert unknown.exit_code == 2 and "No such command" in unknown.output


def test_a_light_command_does_not_import_the_heavy_stacks() -> None:
    """`glowops config show` must not pay for SQLAlchemy, redis, Sentry or OpenTelemetry."""
    probe = (
        "import sys\n"
        "from glowops.cli import main\n"
        "sys.argv = ['glowops', 'config', 'show', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'redis', 'sentry_sdk', 'opentelemetry') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stderr, done.stderr[-2000:]
