"""``glowops``: the command line of the observability and operations layer.

Each area adds its own sub-command group in its own module; this file only assembles them
and turns configuration errors into one clear line instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer
import typer.main
from typer import _click as click  # Typer 0.2x vendors click; its Command and Context live here
from typer.core import TyperGroup

from glowops.settings import ConfigError

# Every top-level command: (name, module, attribute, merged). ``merged`` False: the attribute is
# a Typer app mounted as the group ``name``; True: the attribute is a Typer app whose command
# ``name`` is mounted at the top level. Modules are imported only when their command runs (or
# for ``glowops --help``), so ``glowops backup list`` does not pay for SQLAlchemy, Sentry and
# OpenTelemetry. tests/test_cli.py checks this table against the modules.
COMMANDS: tuple[tuple[str, str, str, bool], ...] = (
    ("config", "glowops.config_cli", "app", False),
    ("health", "glowops.health.cli", "top", True),
    ("monitor", "glowops.health.cli", "top", True),
    ("doctor", "glowops.health.cli", "top", True),
    ("metrics", "glowops.telemetry.cli", "app", False),
    ("alerts", "glowops.alerting.cli", "app", False),
    ("oncall", "glowops.alerting.oncall_cli", "app", False),
    ("dashboards", "glowops.dashboards.cli", "app", False),
    ("backup", "glowops.backup.cli", "app", False),
    ("release", "glowops.release_cli", "app", False),
    ("runbook", "glowops.runbook_cli", "top", True),
    ("deploy", "glowops.deploy.cli", "app", False),
)
_BY_NAME = {entry[0]: entry for entry in COMMANDS}


def load_command(name: str) -> click.Command | None:
    """The click command behind a top-level name, importing its module now."""
    entry = _BY_NAME.get(name)
    if entry is None:
        return None
    _, module_name, attr, merged = entry
    sub = getattr(importlib.import_module(module_name), attr)
    group = typer.main.get_group(sub)
    if merged:
        return group.commands.get(name)
    group.name = name
    return group


class LazyGroup(TyperGroup):
    """The root group: lists the table above, imports a command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [entry[0] for entry in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            command = load_command(cmd_name)
            if command is None:
                return None
            self.commands[cmd_name] = command
        return self.commands[cmd_name]


app = typer.Typer(
    name="glowops",
    cls=LazyGroup,
    help="Observability and operations for Prisma Glow services: check a service's health, "
    "export alert rules and dashboards, run and verify backups, read runbooks, render the "
    "deployment bundle.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from glowops import __version__

        typer.echo(f"glowops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Observability and operations for Prisma Glow services."""


def main() -> None:
    """Entry point of the ``glowops`` script."""
    try:
        app()
    except ConfigError as err:
        typer.echo(f"glowops: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
