"""``glowops``: the command line of the observability and operations layer.

Each area adds its own sub-command group in its own module; this file only assembles them
and turns configuration errors into one clear line instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from glowops.clikit import Group
from glowops.settings import ConfigError

# Every top-level command: (name, module, attribute, merged). ``merged`` False: the attribute is
# a click group mounted as the group ``name``; True: the attribute is a click group whose command
# ``name`` is mounted at the top level. Modules are imported only when their command runs (or
# for ``glowops --help``), so ``glowops backup list`` does not pay for SQLAlchemy, Sentry and
# OpenTelemetry. tests/test_root_cli.py checks this table against the modules.
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
    group: click.Group = getattr(importlib.import_module(module_name), attr)
    if merged:
        return group.commands.get(name)
    group.name = name
    return group


class LazyGroup(Group):
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


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from glowops import __version__

        click.echo(f"glowops {__version__}")
        ctx.exit()


@click.group(
    name="glowops",
    cls=LazyGroup,
    help="Observability and operations for Prisma Glow services: check a service's health, "
    "export alert rules and dashboards, run and verify backups, read runbooks, render the "
    "deployment bundle.",
    no_args_is_help=True,
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.option(
    "--pack",
    "pack",
    multiple=True,
    help="Use an installed pack (repeatable; GLOWOPS_PACKS does the same): its metrics, "
    "dashboards, alert rules and runbooks join glowops' own in every command. "
    "Example: glowops --pack prismaglow alerts export --out deploy/prometheus",
)
def app(pack: tuple[str, ...]) -> None:
    """Observability and operations for Prisma Glow services."""
    if pack:
        from glowops.packs import PackError, use_packs

        try:
            use_packs(list(pack))
        except PackError as err:
            click.echo(f"glowops: {err}", err=True)
            raise click.exceptions.Exit(2) from None


def main() -> None:
    """Entry point of the ``glowops`` script."""
    try:
        app()
    except ConfigError as err:
        click.echo(f"glowops: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
