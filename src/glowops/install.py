"""``glowops.instrument(app)``: the one composition root of glowops on a FastAPI/Starlette app.

Everything glowops installs on a service is decided here, from the settings and what the service
declares (its health checks, its packs): the middleware, /metrics, health, the console, the
embedded alert engine and backup schedule, tracing and error tracking. The parts do not reach
for each other; this module hands each what it needs.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from glowops import extras
from glowops.health.endpoints import install_health
from glowops.health.registry import HealthCheck
from glowops.ops_guard import OpsGuard
from glowops.packs import Pack, use_packs
from glowops.problems import problem_response
from glowops.redaction import default_policy
from glowops.settings import DEFAULT_SERVICE_NAME, Settings, get_settings
from glowops.telemetry import logging as glowops_logging
from glowops.telemetry.exposition import METRICS_PATH, MetricsEndpoint, OpsApp
from glowops.telemetry.hooks import RequestHook
from glowops.telemetry.log_join import host_configured_logging
from glowops.telemetry.metrics import metrics
from glowops.telemetry.middleware import GlowopsMiddleware, mark_routes

if TYPE_CHECKING:  # extras (glowops[http], glowops[server]): imported when settings turn them on
    from glowops.alerting.supervisor import AlertingSupervisor
    from glowops.alerting.teams_relay import TeamsRelay
    from glowops.telemetry.ops_server import OpsServer

__all__ = ["InstrumentState", "instrument"]

_STATE_ATTR = "_glowops_instrumented"
_log = logging.getLogger("glowops.instrument")


@dataclass
class InstrumentState:
    """What instrument() installed on an app (``app._glowops_instrumented``)."""

    settings: Settings
    middleware: GlowopsMiddleware | None = None
    metrics_endpoint: MetricsEndpoint | None = None
    ops_server: OpsServer | None = None
    health_installed: bool = False
    run_alerting: bool = False
    teams_relay: TeamsRelay | None = None
    guard: OpsGuard | None = None  # the one ops guard (token, loopback rule, failed-attempt limiter)
    alerting: AlertingSupervisor | None = None  # while the app runs (its engine: app.state.glowops_alerting)


def instrument(
    app: Any,
    settings: Settings | None = None,
    *,
    checks: Iterable[HealthCheck] = (),
    packs: Iterable[Pack | str] = (),
    tracer: RequestHook | bool | None = None,
    error_reporter: RequestHook | bool | None = None,
    log_stream: TextIO | None = None,
    configure_logs: bool | None = None,
    access_log: bool = True,
    health: bool = True,
    alerting: bool | None = None,
) -> Any:
    """Install request IDs, JSON logs, redaction, metrics, /metrics (and hooks, health) on ``app``.

    Calling it again on the same app changes nothing. Returns the app::

        app = FastAPI(title="Billing API")
        glowops.instrument(app, checks=[glowops.checks.database(engine)])

    Args:
        settings: defaults to the process settings read from the environment. The service is
            named by ``OTEL_SERVICE_NAME``, else after the app's title.
        checks: the service's health checks (:mod:`glowops.health.checks` builds them); glowops
            adds only its own (state volume, backup freshness when backups are configured).
        packs: the service's packs (:class:`glowops.packs.Pack` objects or installed packs' names;
            ``GLOWOPS_PACKS`` adds more): their metrics appear on /metrics, their rules,
            dashboards and runbooks join glowops' generic ones. Without packs the service gets the
            generic catalogs only.
        tracer, error_reporter: a :class:`RequestHook`, False to disable, None to build the
            default from settings (``glowops.telemetry.tracing`` / ``errors`` when present).
        log_stream: where log lines go (default stdout).
        configure_logs: True: glowops owns logging (JSON lines on ``log_stream``/stdout, the
            stdlib routed through it). None (default): the same, unless the service configured
            structlog or root handlers itself; then glowops joins that set-up (adds request
            context and redaction, sends its access line through ``glowops.access``). False:
            logging is left alone.
        access_log: write one access line per request.
        health: mount the health endpoints of ``glowops.health`` when that package exists.
        alerting: run the embedded alert engine while the app runs (default
            ``GLOWOPS_EMBEDDED_ALERTING``); off in a scale-out deployment, where Prometheus and
            Alertmanager evaluate and deliver the same rules.

    Also, from settings: the ``/ops`` console when ``GLOWOPS_CONSOLE`` is on (the default),
    ``/diagnostics/*`` when ``GLOWOPS_DIAGNOSTICS`` is on, the Teams relay
    for Alertmanager when ``GLOWOPS_TEAMS_WEBHOOK_URL`` is set, the backup gauges on
    ``/metrics``, and tracing/Sentry flushed at shutdown.
    """
    existing = getattr(app, _STATE_ATTR, None)
    if existing is not None:
        return app
    if not isinstance(app, Starlette):
        raise TypeError(
            f"glowops.instrument() needs a FastAPI or Starlette app, got {type(app).__name__}; "
            "wrap other ASGI apps with glowops.telemetry.middleware.GlowopsMiddleware"
        )
    if app.middleware_stack is not None:
        raise RuntimeError("glowops.instrument() must be called before the app starts serving")
    settings = _with_identity(settings or get_settings(), app)
    use_packs([*settings.packs, *packs])
    state = InstrumentState(settings=settings)
    setattr(app, _STATE_ATTR, state)

    if configure_logs is None:
        # A service that set up its own logging keeps it; a stream to write to means "own it".
        configure_logs = log_stream is not None or not host_configured_logging()
        if not configure_logs:
            glowops_logging.join_logging(settings)
    if configure_logs:
        glowops_logging.configure_logging(settings, stream=log_stream)
    metrics.label_limit = settings.metrics_label_limit

    _wrap_outermost(
        app,
        state,
        policy=default_policy(settings),
        tracer=_tracer(tracer, settings),
        error_reporter=_error_reporter(error_reporter, settings),
        access_log=access_log,
    )
    _install_problem_handler(app)

    # One guard, so one failed-attempt limiter, for every ops surface of the app.
    state.guard = OpsGuard(settings)
    state.metrics_endpoint = MetricsEndpoint(settings, guard=state.guard)
    if settings.ops_port is None:
        app.router.routes.append(
            Route(METRICS_PATH, state.metrics_endpoint, methods=["GET", "HEAD"], include_in_schema=False)
        )
    else:
        ops_server = extras.load("server", "glowops.telemetry.ops_server", "GLOWOPS_OPS_PORT")
        state.ops_server = ops_server.OpsServer(OpsApp(state.metrics_endpoint), settings.ops_port)
    state.run_alerting = settings.embedded_alerting if alerting is None else alerting
    if state.run_alerting:  # fail at start-up, not in the lifespan
        extras.require("http", "the embedded alert engine (GLOWOPS_EMBEDDED_ALERTING=false turns it off)")
    _wrap_lifespan(app, state)
    if settings.diagnostics:
        from glowops.telemetry.diagnostics import mount_diagnostics

        mount_diagnostics(app, state.guard)
    _register_backup_gauges(settings)
    if settings.teams_webhook_url is not None and settings.teams_webhook_url.get_secret_value():
        extras.require("http", "the Teams relay for Alertmanager (GLOWOPS_TEAMS_WEBHOOK_URL)")
        from glowops.alerting.teams_relay import teams_relay_route

        route, state.teams_relay = teams_relay_route(settings, default_policy(settings), guard=state.guard)
        app.router.routes.append(route)

    if health:
        install_health(app, settings, checks=checks, guard=state.guard)
        state.health_installed = True
    if settings.console:
        _install_console(app, settings, state.guard)
    return app


def _with_identity(settings: Settings, app: Starlette) -> Settings:
    """The settings with the service named after the app when nothing named it
    (``OTEL_SERVICE_NAME`` / ``GLOWOPS_SERVICE_NAME`` win)."""
    if settings.service_name != DEFAULT_SERVICE_NAME:
        return settings
    title = str(getattr(app, "title", "") or "")
    name = service_name_from_title(title)
    return settings.model_copy(update={"service_name": name}) if name else settings


def service_name_from_title(title: str) -> str:
    """``"Billing API"`` -> ``"billing-api"``: lower-case words joined by ``-``; FastAPI's default
    title ("FastAPI") names nothing."""
    if not title or title == "FastAPI":
        return ""
    words = "".join(ch.lower() if ch.isalnum() else " " for ch in title).split()
    return "-".join(words)[:63]


def _tracer(given: RequestHook | bool | None, settings: Settings) -> RequestHook | None:
    """An explicit hook, None when disabled or no OTLP endpoint is set, else the OTLP tracer."""
    if given is False:
        return None
    if given is not None and given is not True:
        return given
    if not settings.effective_otlp_traces_endpoint:
        return None
    tracing = extras.load("tracing", "glowops.telemetry.tracing", "OTEL_EXPORTER_OTLP_ENDPOINT")
    hook: RequestHook | None = tracing.create_hook(settings)
    return hook


def _error_reporter(given: RequestHook | bool | None, settings: Settings) -> RequestHook | None:
    """An explicit hook, None when disabled, else Sentry's: when a DSN is configured, or when the
    service initialised Sentry itself (glowops then joins its client instead of replacing it)."""
    if given is False:
        return None
    if given is not None and given is not True:
        return given
    if not settings.effective_sentry_dsn and "sentry_sdk" not in sys.modules:
        return None
    errors = extras.load("sentry", "glowops.telemetry.errors", "Sentry error tracking (SENTRY_DSN)")
    hook: RequestHook | None = errors.create_hook(settings)
    return hook


def _wrap_outermost(app: Starlette, state: InstrumentState, **options: Any) -> None:
    """Put the middleware outside Starlette's ServerErrorMiddleware.

    From there it sees every response, including the 500 of an unhandled exception and those of
    other middleware, so the request ID header and the metrics cover them all. Starlette has
    no public hook for the outermost layer; it builds the stack lazily on the first request
    through ``build_middleware_stack``, so that is what is wrapped.
    """
    build: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_with_glowops() -> ASGIApp:
        mark_routes(app.router.routes)  # mounts are all registered by the first request
        state.middleware = GlowopsMiddleware(build(), **options)
        return state.middleware

    setattr(app, "build_middleware_stack", build_with_glowops)  # noqa: B010


async def _problem_500(request: Request, exc: Exception) -> Response:
    return problem_response(500, "The server failed to answer this request.")


def _install_problem_handler(app: Starlette) -> None:
    """Unhandled errors answer application/problem+json, unless the app has its own handler."""
    if Exception not in app.exception_handlers and 500 not in app.exception_handlers:
        app.add_exception_handler(Exception, _problem_500)


def _wrap_lifespan(app: Starlette, state: InstrumentState) -> None:
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner_app: Any) -> AsyncIterator[Any]:
        # uvicorn.run(app) configures its loggers after the app module was imported.
        glowops_logging.reroute_stdlib_loggers()
        if state.ops_server is not None:
            await state.ops_server.start()
        inner_app.state.glowops_alerting = None
        if state.run_alerting:
            state.alerting = await _supervise_alerting(state.settings, inner_app)
        try:
            async with original(inner_app) as maybe_state:
                yield maybe_state
        finally:
            if state.alerting is not None:
                await state.alerting.stop()
                state.alerting = None
            view = getattr(inner_app.state, "glowops_alerting", None)
            if view is not None and hasattr(view, "close"):
                view.close()
            inner_app.state.glowops_alerting = None
            if state.ops_server is not None:
                await state.ops_server.stop()
            if state.teams_relay is not None:
                await state.teams_relay.aclose()
            _flush_exporters()

    app.router.lifespan_context = lifespan


def _install_console(app: Starlette, settings: Settings, guard: OpsGuard) -> None:
    """The ``/ops`` console (``GLOWOPS_CONSOLE``); it reads ``app.state.glowops_alerting`` per request."""
    extras.require("console", "the /ops console (GLOWOPS_CONSOLE=false turns it off)")
    from glowops.console import install_console

    install_console(app, settings, guard=guard)


async def _supervise_alerting(settings: Settings, app: Any) -> AlertingSupervisor:
    """Run the embedded alert engine in the one worker/replica holding the leadership.

    ``app.state.glowops_alerting`` is what the console reads: the running engine of this
    process; under several workers, in the others, a view of the leader's samples and alerts
    (:class:`~glowops.alerting.follower.FollowerAlerting`); else None.
    """
    from glowops.alerting.supervisor import AlertingSupervisor

    def publish(alerting: Any) -> None:
        if alerting is None and settings.workers > 1:
            from glowops.alerting.follower import FollowerAlerting

            alerting = FollowerAlerting(settings)
        previous = getattr(app.state, "glowops_alerting", None)
        app.state.glowops_alerting = alerting
        if previous is not None and hasattr(previous, "close"):  # a follower's view
            previous.close()

    supervisor = AlertingSupervisor(settings, on_change=publish)
    await supervisor.start()
    if supervisor.alerting is None:
        publish(None)
    return supervisor


def _flush_exporters() -> None:
    """Send what the span queue and Sentry's transport still hold before the process exits
    (only the exporters that were set up: their modules are loaded then)."""
    tracing = sys.modules.get("glowops.telemetry.tracing")
    if tracing is not None:
        tracing.flush_tracing()
    errors = sys.modules.get("glowops.telemetry.errors")
    if errors is not None:
        errors.flush_error_tracking()


def _register_backup_gauges(settings: Settings) -> None:
    """The ``glowops_backup_*`` gauges, read from the backup store at scrape time, when backups
    are configured (no backups configured: nothing on /metrics that would only say "never")."""
    if not settings.backups_configured:
        return
    from glowops.backup.monitoring import register_backup_collector

    register_backup_collector(settings)
