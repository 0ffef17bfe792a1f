"""``glowops alerts``: export the rule catalog for Prometheus and Alertmanager, and its docs.

Other alerting modules add their commands (status, history, silence, ack, test-notify,
outbox) to the same group: they import :data:`app` and decorate, and their module name goes
into :data:`COMMAND_MODULES` so that ``glowops alerts --help`` lists them::

    from glowops.alerting.cli import app

    @app.command("status")
    def status() -> None: ...
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import click

from glowops.clikit import PATH, EnumChoice, Group
from glowops.generated_docs import emit_generated_doc
from glowops.settings import Settings, load_settings

if TYPE_CHECKING:
    from glowops.alerting.export import ExportPart as ExportPart_

app = Group(
    help="Alert rules: export them for Prometheus/Alertmanager, document them, run the embedded engine.",
    no_args_is_help=True,
)

# Modules that register more commands on `app` (imported at the end of this file).
COMMAND_MODULES: tuple[str, ...] = ("glowops.alerting.ops_cli",)


class ExportPart(StrEnum):
    """What ``glowops alerts export --only`` writes."""

    prometheus = "prometheus"
    alertmanager = "alertmanager"


@app.command("export")
@click.option(
    "--out",
    "out",
    type=PATH,
    required=True,
    help=(
        "Directory to write the files into (created); `-` prints alertmanager.yml to stdout (with "
        "--only alertmanager)."
    ),
)
@click.option(
    "--time-scale",
    "time_scale",
    type=click.FloatRange(min=1.0),
    default=1.0,
    help="Divide every window, `for` and interval by this (drills and tests).",
    show_default=True,
)
@click.option(
    "--target",
    "target",
    default=None,
    help="host:port Prometheus scrapes /metrics on (default: the ops port or the gateway port).",
)
@click.option(
    "--alertmanager",
    "alertmanager",
    default="127.0.0.1:9093",
    help="host:port of the Alertmanager Prometheus sends alerts to.",
    show_default=True,
)
@click.option(
    "--check",
    "check",
    is_flag=True,
    default=False,
    help="Run promtool and amtool on the result (when they are installed).",
)
@click.option(
    "--only",
    "only",
    type=EnumChoice(ExportPart),
    default=None,
    help=(
        "Write one part: `alertmanager` (alertmanager.yml alone) or `prometheus` (rules, rule tests, "
        "prometheus.yml, ops_token)."
    ),
)
def export(
    out: Path,
    time_scale: float,
    target: str | None,
    alertmanager: str,
    check: bool,
    only: ExportPart | None,
) -> None:
    """Write Prometheus rules, prometheus.yml, promtool tests and alertmanager.yml.

    Examples:

        glowops alerts export --out deploy/prometheus --check

        glowops alerts export --out /tmp/drill --time-scale 60 --target 127.0.0.1:8000

        glowops alerts export --only alertmanager --out /etc/glowops/alertmanager --check

        glowops alerts export --only alertmanager --out - | kubectl create secret generic ...

    alertmanager.yml and ops_token hold secrets and are written with mode 0600.
    """
    from glowops.alerting.export import write_bundle

    settings = load_settings()
    part: ExportPart_ | None = None
    if only is ExportPart.alertmanager:
        part = "alertmanager"
    elif only is ExportPart.prometheus:
        part = "prometheus"
    if str(out) == "-":
        _export_to_stdout(settings, part, time_scale, check)
        return
    bundle = write_bundle(
        out, settings, time_scale=time_scale, target=target, alertmanager=alertmanager, only=part
    )
    for warning in bundle.warnings:
        click.echo(f"warning: {warning}", err=True)
    for name, path in bundle.files.items():
        click.echo(f"wrote {path}" + ("  (0600)" if name in ("alertmanager.yml", "ops_token") else ""))
    if check:
        failures = _check(out, sorted(bundle.files))
        if failures:
            raise click.exceptions.Exit(1)


def _export_to_stdout(settings: Settings, part: ExportPart_ | None, time_scale: float, check: bool) -> None:
    """alertmanager.yml on stdout (for a pipe into ``kubectl create secret``), warnings on stderr."""
    from glowops.alerting.alertmanager_config import build_alertmanager_config
    from glowops.alerting.export import dump_yaml

    if part != "alertmanager" or check:
        click.echo(
            "--out - prints alertmanager.yml only: use it with --only alertmanager, without --check", err=True
        )
        raise click.exceptions.Exit(2)
    export = build_alertmanager_config(settings, time_scale=time_scale)
    for warning in export.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(dump_yaml(export.config), nl=False)


def _check(out: Path, written: list[str]) -> int:
    """Run the real validators over the files written; the number of failures."""
    commands = []
    if "prometheus.yml" in written:
        commands.append(["promtool", "check", "config", "prometheus.yml"])
    if "alertmanager.yml" in written:
        commands.append(["amtool", "check-config", "alertmanager.yml"])
    test_files = [name for name in written if name.startswith("rule_tests_")]
    if test_files:
        commands.append(["promtool", "test", "rules", *test_files])
    failures = 0
    for command in commands:
        if shutil.which(command[0]) is None:
            click.echo(f"skipped: {command[0]} is not installed", err=True)
            continue
        result = subprocess.run(command, cwd=out, capture_output=True, text=True, check=False)
        status = "ok" if result.returncode == 0 else "FAILED"
        click.echo(f"{status}: {' '.join(command)}")
        if result.returncode != 0:
            failures += 1
            click.echo(result.stdout + result.stderr, err=True)
    return failures


@app.command("docs")
@click.option("--out", "out", type=PATH, default=None, help="Write the page here instead of stdout.")
@click.option(
    "--check", "check", is_flag=True, default=False, help="Exit 1 when --out differs from the catalog."
)
def docs(
    out: Path | None,
    check: bool,
) -> None:
    """Print docs/alerts.md (the rule table, routing, how to run the stack) from the catalog.

    Examples:

        glowops --pack prismaglow alerts docs --out docs/alerts.md

        glowops --pack prismaglow alerts docs --out docs/alerts.md --check
    """
    from glowops.alerting.docs import render_markdown
    from glowops.alerting.rules import build_catalog
    from glowops.packs import active_packs

    # The defaults, not this machine's settings, so the page is the same everywhere; every rule,
    # backup rules included (they apply where backups are configured), and those of the packs.
    text = render_markdown(build_catalog(packs=active_packs(load_settings())))
    emit_generated_doc(text, out, check, "glowops alerts docs")


def _load_command_modules() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)  # part of this wheel: a failure here is a bug, not an option


_load_command_modules()
