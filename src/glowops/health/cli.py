"""``glowops health``, ``glowops monitor`` and ``glowops doctor``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import TYPE_CHECKING

import click

from glowops import extras
from glowops.clikit import Group, echo_markup, print_table
from glowops.health.doctor import DoctorReport, DoctorRow
from glowops.health.registry import HealthCheck
from glowops.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:  # the probe needs httpx (glowops[http]): imported by the commands that probe
    from glowops.health.probe import ProbeResult

top = Group()

_STYLE = {
    "healthy": "green",
    "pass": "green",
    "degraded": "yellow",
    "warn": "yellow",
    "unhealthy": "red",
    "fail": "red",
    "unreachable": "red",
    "skipped": "dim",
}
EXIT_HEALTHY, EXIT_DEGRADED, EXIT_UNHEALTHY = 0, 1, 2


def _base_url(url: str) -> str:
    from glowops.health.probe import check_base_url

    try:
        return check_base_url(url)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--url") from None


def _default_token(token: str | None) -> str | None:
    """The --token value, else GLOWOPS_OPS_TOKEN from the settings (when they load)."""
    if token:
        return token
    try:
        secret = load_settings().ops_token
    except ConfigError:
        return None
    return secret.get_secret_value() if secret else None


def _styled(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def _exit_code(result: ProbeResult) -> int:
    if result.health_status == "healthy" and result.success:
        return EXIT_HEALTHY
    if result.health_status == "degraded" and result.success:
        return EXIT_DEGRADED
    return EXIT_UNHEALTHY


@top.command()
@click.option("--url", "url", required=True, help="Base URL of the instance, e.g. http://127.0.0.1:8000.")
@click.option("--path", "path", default="/health/dependencies", help="Endpoint to probe.", show_default=True)
@click.option("--json", "as_json", is_flag=True, default=False, help="Print the answer as JSON.")
@click.option(
    "--token", "token", default=None, help="Ops token for per-check details (default GLOWOPS_OPS_TOKEN)."
)
@click.option(
    "--timeout",
    "timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    help="Seconds to wait for the answer.",
    show_default=True,
)
def health(
    url: str,
    path: str,
    as_json: bool,
    token: str | None,
    timeout: float,
) -> None:
    """Probe a running instance once; exit 0 healthy, 1 degraded, 2 unhealthy or unreachable.

    For cron jobs and scripts::

        glowops health --url http://127.0.0.1:8000
        glowops health --url https://api.example.com --path /health/ready --json
    """
    base = _base_url(url)
    httpx = extras.load("http", "httpx", "glowops health")
    from glowops.health.probe import probe

    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
        target = path.strip("/") or "health"
        result = probe(client, target, base + "/" + path.lstrip("/"), _default_token(token))
    code = _exit_code(result)
    if as_json:
        click.echo(json.dumps({**result.log_record(), "body": result.body}, indent=2))
        raise click.exceptions.Exit(code)
    headline = f"{result.url}: {_styled(result.health_status)}"
    if result.status_code is not None:
        headline += f" (HTTP {result.status_code}, {result.duration_seconds * 1000:.0f} ms)"
    else:
        headline += f" ({result.error})"
    echo_markup(headline)
    checks = result.body.get("checks")
    if isinstance(checks, dict) and checks:
        rows = []
        for name, entry in checks.items():
            if not isinstance(entry, dict):
                continue
            observed = entry.get("observed_value")
            shown = "" if observed is None else f"{observed} {entry.get('observed_unit') or ''}".strip()
            critical = "yes" if entry.get("critical") else "no"
            status = _styled(str(entry.get("status", "?")))
            rows.append((name, status, critical, shown, str(entry.get("output", ""))))
        print_table(None, ("check", "status", "critical", "observed", "message"), rows)
    elif result.status_code is not None:
        echo_markup("[dim]no per-check details (pass --token or set GLOWOPS_OPS_TOKEN)[/dim]")
    raise click.exceptions.Exit(code)


@top.command()
@click.option("--url", "url", required=True, help="Base URL of the instance, e.g. http://127.0.0.1:8000.")
@click.option(
    "--health-interval",
    "health_interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between /health probes (default 30).",
)
@click.option(
    "--db-interval",
    "db_interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between /health/db probes (default 60).",
)
@click.option(
    "--dependencies-interval",
    "dependencies_interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between /health/dependencies probes (default 120).",
)
@click.option(
    "--metrics-port",
    "metrics_port",
    type=click.IntRange(min=1, max=65535),
    default=None,
    help="Serve probe metrics on this port (like a blackbox exporter).",
)
@click.option(
    "--metrics-addr",
    "metrics_addr",
    default="127.0.0.1",
    help="Address of the metrics port.",
    show_default=True,
)
@click.option(
    "--once", "once", is_flag=True, default=False, help="Probe each endpoint once; exit 1 if any failed."
)
@click.option(
    "--iterations",
    "iterations",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many rounds (a round probes every endpoint that is due).",
)
@click.option("--token", "token", default=None, help="Ops token (default GLOWOPS_OPS_TOKEN).")
@click.option(
    "--timeout",
    "timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    help="Seconds to wait for each answer.",
    show_default=True,
)
def monitor(
    url: str,
    health_interval: float | None,
    db_interval: float | None,
    dependencies_interval: float | None,
    metrics_port: int | None,
    metrics_addr: str,
    once: bool,
    iterations: int | None,
    token: str | None,
    timeout: float,
) -> None:
    """Synthetic monitor: probe /health every 30 s, /health/db every 60 s, /health/dependencies every 120 s.

    Logs each result as a JSON line and sets glowops_probe_success{target} and
    glowops_probe_duration_seconds{target}, served on --metrics-port like a blackbox exporter.

    Examples::

        glowops monitor --url http://127.0.0.1:8000 --metrics-port 9115
        glowops monitor --url http://127.0.0.1:8000 --once
        GLOWOPS_MONITOR_HEALTH_INTERVAL_SECONDS=10 glowops monitor --url http://gw:8000
    """
    from glowops.health.monitor import run_monitor, spec_targets

    base = _base_url(url)
    try:
        settings = load_settings()
        intervals = {
            "health": settings.monitor_health_interval_seconds,
            "db": settings.monitor_db_interval_seconds,
            "dependencies": settings.monitor_dependencies_interval_seconds,
        }
    except ConfigError as err:
        # The monitor usually runs away from the service: its configuration is not needed.
        click.echo(f"glowops: using default intervals; {err}", err=True)
        intervals = {
            name: Settings.model_fields[f"monitor_{name}_interval_seconds"].default
            for name in ("health", "db", "dependencies")
        }
    targets = spec_targets(
        health_interval or intervals["health"],
        db_interval or intervals["db"],
        dependencies_interval or intervals["dependencies"],
    )
    server = None
    if metrics_port is not None:
        from prometheus_client import start_http_server

        server, _thread = start_http_server(metrics_port, addr=metrics_addr)
        click.echo(f"glowops: probe metrics on http://{metrics_addr}:{metrics_port}/metrics", err=True)

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        last = asyncio.run(
            run_monitor(
                base,
                targets,
                token=_default_token(token),
                probe_timeout=timeout,
                iterations=1 if once else iterations,
                emit=emit,
            )
        )
    except KeyboardInterrupt:
        raise click.exceptions.Exit(0) from None
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    if once and not all(r.success for r in last):
        raise click.exceptions.Exit(1)


def _with_test_event(report: DoctorReport) -> DoctorReport:
    """The report plus a row for one test event sent to Sentry (required: it was asked for)."""
    from glowops.telemetry.errors import send_test_error

    accepted, message = send_test_error(load_settings())
    row = DoctorRow(
        part="sentry test event", required=True, status="pass" if accepted else "fail", message=message
    )
    return DoctorReport(rows=(*report.rows, row))


def _declared_checks(app: str | None) -> list[HealthCheck]:
    """The health checks the service's app declares (none without an app reference)."""
    from glowops.appref import AppRefError, load_app
    from glowops.health.endpoints import get_health

    try:
        reference = app or load_settings().app
    except ConfigError:
        return []  # diagnose() reports the configuration error itself
    if not reference:
        return []
    try:
        # Building the app configures its logging: its lines go to stderr, the answer to stdout.
        with contextlib.redirect_stdout(sys.stderr):
            health = get_health(load_app(reference))
    except AppRefError as err:
        raise click.BadParameter(str(err), param_hint="--app") from None
    return list(health.registry) if health is not None else []


@top.command()
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON instead of a table.")
@click.option(
    "--verbose", "-v", "verbose", is_flag=True, default=False, help="Log failure details to stderr."
)
@click.option(
    "--send-test-error",
    "send_test_error",
    is_flag=True,
    default=False,
    help=(
        "Also send one test event to Sentry (GATEWAY_SENTRY_DSN or SENTRY_DSN) through the real "
        "pipeline, scrubbing included, and say whether the DSN accepted it (a refusal exits 1)."
    ),
)
@click.option(
    "--app",
    "app",
    default=None,
    help=(
        "The service's app (module:attribute; a factory is called) whose declared health checks run "
        "too (default GLOWOPS_APP)."
    ),
)
def doctor(
    as_json: bool,
    verbose: bool,
    send_test_error: bool,
    app: str | None,
) -> None:
    """Check the configuration and reach every configured dependency; exit 0 when all required parts are fine.

    Required: the configuration, the database and the other critical checks. Exit 1 when a
    required dependency fails, 2 when the configuration is invalid. With --verbose the
    (redacted) detail of each failure is logged to stderr.

    Uses the same environment as the service; --app names the service so that its declared
    checks (database, Redis, HTTP dependencies) run as /health/dependencies runs them::

        glowops doctor
        glowops doctor --app prisma_glow_gateway.app:create_app --json
        SENTRY_DSN=https://key@o1.ingest.sentry.io/42 glowops doctor --send-test-error
    """
    from glowops.health.doctor import diagnose

    health_log = logging.getLogger("glowops.health")
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler = logging.NullHandler()  # keeps Python's last-resort handler from printing details
    health_log.addHandler(handler)
    try:
        report = asyncio.run(diagnose(checks=_declared_checks(app)))
    except ConfigError as err:  # the service's own settings, read while building its app
        report = DoctorReport((DoctorRow("configuration", True, "fail", str(err)),))
    finally:
        health_log.removeHandler(handler)
    if send_test_error and not report.rows[0].blocking:  # row 0: the configuration
        report = _with_test_event(report)
    code = 0 if report.ok else 2 if report.rows[0].blocking else 1
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "parts": [
                        {
                            "part": r.part,
                            "required": r.required,
                            "status": r.status,
                            "message": r.message,
                            "observed": r.observed,
                        }
                        for r in report.rows
                    ],
                },
                indent=2,
            )
        )
        raise click.exceptions.Exit(code)
    rows = [
        (row.part, "yes" if row.required else "no", _styled(row.status), row.observed, row.message)
        for row in report.rows
    ]
    print_table("glowops doctor", ("part", "required", "status", "observed", "message"), rows)
    echo_markup(
        "[green]all required parts are fine[/green]" if report.ok else "[red]a required part is failing[/red]"
    )
    raise click.exceptions.Exit(code)
