"""``glowops release``: the spec's Sentry release steps, wrapping sentry-cli (installed from PyPI).

The spec's release tracking is three sentry-cli calls::

    sentry-cli releases new "$SENTRY_RELEASE"
    sentry-cli releases set-commits "$SENTRY_RELEASE" --auto
    sentry-cli releases finalize "$SENTRY_RELEASE"

These commands run them with the organisation, project, server and token from the settings
(``SENTRY_ORG``, ``SENTRY_PROJECT``, ``SENTRY_URL``, ``SENTRY_AUTH_TOKEN``) and the version from
``SENTRY_RELEASE`` or else the git revision. The token goes to sentry-cli in its environment,
never on its command line (where ``ps`` would show it). ``--dry-run`` prints the commands,
token masked, and runs nothing.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import click

from glowops.clikit import Group
from glowops.redaction import MASK
from glowops.settings import Settings, child_environment, load_settings

app = Group(
    help="Sentry release tracking (sentry-cli): create a release, attach commits, finalize it.\n\n"
    "Example: glowops release create --dry-run, then the same without --dry-run.",
    no_args_is_help=True,
)


def _fail(message: str) -> NoReturn:
    click.echo(f"glowops release: {message}", err=True)
    raise click.exceptions.Exit(2)


def sentry_cli_path() -> str:
    """The sentry-cli executable installed next to this Python (the PyPI package), else on PATH."""
    beside = Path(sys.executable).parent / "sentry-cli"
    if beside.exists():
        return str(beside)
    found = shutil.which("sentry-cli")
    if found is None:
        _fail("sentry-cli not found: install glowops with its dependencies (pip install sentry-cli)")
    return found


def build_command(settings: Settings, action: list[str]) -> list[str]:
    """``sentry-cli [--url U] releases [--org O] [--project P] <action...>``."""
    command = [sentry_cli_path()]
    if settings.sentry_url:
        command += ["--url", settings.sentry_url]
    command.append("releases")
    if settings.sentry_org:
        command += ["--org", settings.sentry_org]
    if settings.sentry_project:
        command += ["--project", settings.sentry_project]
    return command + action


def _version(settings: Settings, given: str | None) -> str:
    from glowops.telemetry.errors import resolve_release  # glowops[sentry]

    version = given or resolve_release(settings)
    if not version:
        _fail("no release version: pass one, set SENTRY_RELEASE, or run inside a git checkout")
    return str(version)


def _run(settings: Settings, action: list[str], dry_run: bool) -> None:
    command = build_command(settings, action)
    token = settings.sentry_auth_token.get_secret_value() if settings.sentry_auth_token else ""
    shown = shlex.join([Path(command[0]).name, *command[1:]])
    if dry_run:
        prefix = f"SENTRY_AUTH_TOKEN={MASK} " if token else ""
        click.echo(prefix + shown)
        return
    if not (settings.sentry_org and settings.sentry_project and token):
        _fail("sentry-cli needs SENTRY_ORG, SENTRY_PROJECT and SENTRY_AUTH_TOKEN")
    click.echo(f"running: {shown}", err=True)
    env = child_environment(SENTRY_AUTH_TOKEN=token)
    result = subprocess.run(command, env=env, check=False)
    if result.returncode != 0:
        click.echo(f"glowops release: sentry-cli failed with exit code {result.returncode}", err=True)
        raise click.exceptions.Exit(result.returncode)


@app.command()
@click.argument("version", default=None, required=False)
@click.option(
    "--dry-run",
    "dry_run",
    is_flag=True,
    default=False,
    help="Print the sentry-cli command (token masked); run nothing.",
)
def create(
    version: str | None,
    dry_run: bool,
) -> None:
    """Create the release in Sentry (``sentry-cli releases new``)."""
    settings = load_settings()
    _run(settings, ["new", _version(settings, version)], dry_run)


@app.command("set-commits")
@click.argument("version", default=None, required=False)
@click.option(
    "--auto/--local",
    "auto",
    default=True,
    help=(
        "--auto: commits from Sentry's repository integration (the spec's step); --local: from this "
        "git checkout."
    ),
)
@click.option("--commit", "commit", default=None, help="Explicit range: 'org/repo@from..to'.")
@click.option(
    "--dry-run",
    "dry_run",
    is_flag=True,
    default=False,
    help="Print the sentry-cli command (token masked); run nothing.",
)
def set_commits(
    version: str | None,
    auto: bool,
    commit: str | None,
    dry_run: bool,
) -> None:
    """Associate commits with the release (``sentry-cli releases set-commits``)."""
    settings = load_settings()
    action = ["set-commits", _version(settings, version)]
    if commit:
        action += ["--commit", commit]
    else:
        action.append("--auto" if auto else "--local")
    _run(settings, action, dry_run)


@app.command()
@click.argument("version", default=None, required=False)
@click.option(
    "--dry-run",
    "dry_run",
    is_flag=True,
    default=False,
    help="Print the sentry-cli command (token masked); run nothing.",
)
def finalize(
    version: str | None,
    dry_run: bool,
) -> None:
    """Mark the release finalized and released (``sentry-cli releases finalize``)."""
    settings = load_settings()
    _run(settings, ["finalize", _version(settings, version)], dry_run)
