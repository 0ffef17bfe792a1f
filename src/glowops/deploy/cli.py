"""``glowops deploy``: render the scale-out bundle (``deploy/``) and check it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

from glowops.clikit import PATH, Group
from glowops.deploy.spec import SPEC_FILE, ServiceSpec
from glowops.settings import ConfigError

app = Group(
    help="The scale-out bundle: docker-compose, Kubernetes manifests, Prometheus, Alertmanager, "
    "Grafana and OpenTelemetry Collector configs, rendered from the catalogs.",
    no_args_is_help=True,
)


_SPEC_HELP = (
    "The service spec (service.yaml: which app, settings class, command, image; see "
    "glowops.deploy.spec). Default: service.yaml in the bundle directory."
)


def _spec(path: Path | None, directory: Path) -> ServiceSpec:
    from glowops.deploy.spec import load_spec

    try:
        spec = load_spec(path or directory / SPEC_FILE)
        spec.settings_class()  # importable and a Settings class, before anything is written
        return spec
    except ConfigError as err:
        click.echo(f"glowops deploy: {err}", err=True)
        raise click.exceptions.Exit(2) from None


@app.command("render")
@click.option(
    "--out",
    "-o",
    "out",
    type=PATH,
    default=Path("deploy"),
    help="Directory to write the bundle into.",
    show_default=True,
)
@click.option("--spec", "spec_path", type=PATH, default=None, help=_SPEC_HELP)
def render_command(
    out: Path,
    spec_path: Path | None,
) -> None:
    """Write every file of the bundle for the service ``service.yaml`` describes.

    The bundle's settings are the service's defaults plus the scale-out topology, never the current
    environment: the output is the same on every machine. Secrets are referenced, never written
    (compose: deploy/.env; Kubernetes: the Secret glowops-<name>). A new service writes its
    service.yaml (name, package, app, settings, command, serve, migrate, environment, secrets)
    into an empty directory and renders there.

    Examples: `glowops deploy render --out deploy/`;
    `glowops deploy render --spec worker/service.yaml --out worker/deploy/`
    """
    from glowops.deploy.render import OBSOLETE_FILES, is_generated, render

    spec = _spec(spec_path, out)
    rendered = render(spec)
    for warning in rendered.warnings:
        click.echo(f"note: {warning}", err=True)
    for name, text in rendered.files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if spec_path is not None and not (out / SPEC_FILE).exists():
        # The bundle keeps the spec it was rendered from: `deploy check` reads it there.
        (out / SPEC_FILE).write_text(spec_path.read_text(encoding="utf-8"), encoding="utf-8")
    for name, why in OBSOLETE_FILES.items():
        path = out / name
        # Only what an earlier render wrote: a file someone put there by hand stays.
        if path.is_file() and is_generated(path.read_text(encoding="utf-8")):
            path.unlink()
            if path.parent != out and not any(path.parent.iterdir()):
                path.parent.rmdir()
            click.echo(f"removed {path}: {why}", err=True)
    click.echo(f"wrote {len(rendered.files)} files for {spec.name} into {out}")


@app.command("check")
@click.argument("directory", type=PATH, default=Path("deploy"), required=False)
@click.option("--spec", "spec_path", type=PATH, default=None, help=_SPEC_HELP)
@click.option(
    "--tools/--no-tools", "tools", default=True, help="Also run promtool and amtool when installed."
)
def check_command(
    directory: Path,
    spec_path: Path | None,
    tools: bool,
) -> None:
    """Check the bundle: no drift from a fresh render, and ports, paths and names agree.

    Cross-checks: the scrape target is the service and its port, probes and health checks hit
    real routes, every variable set is a setting the service (or glowops, for the backup jobs)
    reads, no secret is inline, every command a container or CronJob runs exists, the collector
    pipelines use defined components. Exit 1 on a problem, 2 on a bad spec.
    Example: `glowops deploy check deploy/`
    """
    from glowops.deploy.check import check_bundle

    if not directory.is_dir():
        click.echo(f"{directory}: not a directory", err=True)
        raise click.exceptions.Exit(2)
    problems = check_bundle(directory, _spec(spec_path, directory))
    if tools:
        problems += _tools(directory)
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"{directory}: bundle is consistent")


def _tools(directory: Path) -> list[str]:
    import tempfile

    import yaml

    from glowops.alerting.export import ALERTMANAGER_FILE, dump_yaml, write_private
    from glowops.deploy.check import example_alertmanager_config

    prom = directory / "prometheus"
    problems = []
    with tempfile.TemporaryDirectory(prefix="glowops-am-") as scratch:
        # alertmanager.yml exists only in the compose volume: check what the one-shot renders
        # with every channel set to an example value.
        compose = yaml.safe_load((directory / "docker-compose.yml").read_text(encoding="utf-8"))
        try:
            config, _ = example_alertmanager_config(compose)
        except (KeyError, ValueError) as err:
            return [f"alertmanager-config: cannot render an example configuration: {err}"]
        write_private(Path(scratch) / ALERTMANAGER_FILE, dump_yaml(config))
        commands = [
            # --syntax-only: the token file exists only inside the container (/run/secrets).
            (["promtool", "check", "config", "--syntax-only", "prometheus.yml"], prom),
            (["promtool", "check", "rules", "recording_rules.yml", "alerting_rules.yml"], prom),
            (["amtool", "check-config", ALERTMANAGER_FILE], Path(scratch)),
        ]
        for command, cwd in commands:
            if shutil.which(command[0]) is None:
                click.echo(f"skipped: {command[0]} is not installed", err=True)
                continue
            result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                problems.append(f"{' '.join(command)}: {(result.stdout + result.stderr).strip()[-300:]}")
    return problems
