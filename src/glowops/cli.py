"""``glowops``: the command line of the observability and operations layer.

Each area adds its own sub-command group in its own module; this file only assembles them
and turns configuration errors into one clear line instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from glowops.settings import ConfigError

app = typer.Typer(
    name="glowops",
    help="Observability and operations for Prisma Glow services: run the gateway, check its "
    "health, drive demo traffic, export alert rules and dashboards, run and verify backups.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

# (module, attribute, command-group name or None to merge its commands at the top level)
_GROUPS: list[tuple[str, str, str | None]] = [
    ("glowops.config_cli", "app", "config"),
    ("glowops.config_cli", "top", None),
    ("glowops.alerting.cli", "app", "alerts"),
    ("glowops.telemetry.cli", "app", "metrics"),
    ("glowops.gateway.cli", "top", None),
    ("glowops.health.cli", "top", None),
    ("glowops.gateway.demo", "app", "demo"),
    ("glowops.backup.cli", "app", "backup"),
    ("glowops.release_cli", "app", "release"),
    ("glowops.runbook_cli", "top", None),
    ("glowops.dashboards.cli", "app", "dashboards"),
    ("glowops.deploy.cli", "app", "deploy"),
]


def _register() -> None:
    for module_name, attr, name in _GROUPS:
        module = importlib.import_module(module_name)
        sub = getattr(module, attr)
        if name is None:
            for command in sub.registered_commands:
                app.registered_commands.append(command)
            for group in sub.registered_groups:
                app.registered_groups.append(group)
        else:
            app.add_typer(sub, name=name)


_register()


def main() -> None:
    """Entry point of the ``glowops`` script."""
    try:
        app()
    except ConfigError as err:
        typer.echo(f"glowops: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
