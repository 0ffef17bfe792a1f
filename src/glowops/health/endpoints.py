"""``install_health(app, settings)``: /health, /health/db, /health/dependencies, /health/live,
/health/ready on a FastAPI or Starlette app.

=====================  ==============================================  ======================
path                   what it checks                                  status code
=====================  ==============================================  ======================
/health                nothing (no I/O): version, timestamp, uptime    200
/health/live           nothing (Kubernetes liveness)                   200
/health/db             the database                                    200 / 503
/health/dependencies   every check (database, Redis, Supabase, OpenAI,  200 unless a critical
                       disk, custom ones)                              check fails, then 503
/health/ready          the critical checks (Kubernetes readiness)      200 / 503
=====================  ==============================================  ======================

Who sees per-check details: the ops guard decides (:mod:`glowops.ops_guard`, the same rule and
the same failed-attempt limiter as ``/metrics``): a caller presenting ``Authorization: Bearer
<GLOWOPS_OPS_TOKEN>``, or without a configured token a loopback client. A caller that presents
wrong tokens too often gets ``429`` with ``Retry-After`` (no status, no details), so the answer
is no oracle; a caller presenting nothing (a probe) always gets the status. The details are
fixed messages and measurements, never exception text.

Every answer carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from glowops.health.checks import glowops_checks
from glowops.health.model import Status, utc_now
from glowops.health.registry import HealthCheck, HealthRegistry
from glowops.health.render import HEALTH_JSON, ietf_body, spec_body, wants_health_json
from glowops.health.runner import HealthRunner, Report
from glowops.ops_guard import OpsGuard
from glowops.settings import Settings
from glowops.telemetry.context import current_request_id

_APP_ATTR = "glowops_health"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_NO_STORE = {"Cache-Control": "no-store"}

PATHS = ("/health", "/health/live", "/health/ready", "/health/db", "/health/dependencies")


class HealthEndpoints:
    """The health routes of one app, their registry and runner."""

    def __init__(
        self,
        settings: Settings,
        registry: HealthRegistry,
        runner: HealthRunner,
        guard: OpsGuard | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.runner = runner
        self.guard = guard or OpsGuard(settings)
        self._started = time.monotonic()

    # --- routes -------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        handlers: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
            ("/health", self.health),
            ("/health/live", self.live),
            ("/health/ready", self.ready),
            ("/health/db", self.database),
            ("/health/dependencies", self.dependencies),
        ]
        return [
            Route(path, self._guarded(handler), methods=["GET"], include_in_schema=False)
            for path, handler in handlers
        ]

    def _guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Decide once per request, before any check runs: 429 for a caller the limiter holds."""

        async def endpoint(request: Request) -> Response:
            decision = self.guard.check(request.scope)
            if decision.limited:
                return self.guard.response(decision, "Health details")
            request.state.glowops_ops_allowed = decision.allowed
            return await handler(request)

        return endpoint

    async def health(self, request: Request) -> Response:
        """Liveness with the spec's fields: no I/O, always 200."""
        return self._answer(request, Status.PASS, None)

    async def live(self, request: Request) -> Response:
        """Kubernetes liveness: the process answers. No I/O."""
        return self._answer(request, Status.PASS, None)

    async def ready(self, request: Request) -> Response:
        """Kubernetes readiness: the critical checks."""
        report = await self.runner.run(self.registry.critical_names(), request_id=_request_id(request))
        return self._answer(request, report.status, report)

    async def database(self, request: Request) -> Response:
        """The declared ``database`` check alone; 200 or 503 (200 "not declared" without one)."""
        report = await self.runner.run(["database"], request_id=_request_id(request))
        result = report.get("database")
        if result is None:
            return self._answer(request, Status.PASS, report, {"database": "not declared"})
        connected = "connected" if result.status is not Status.FAIL else "unreachable"
        return self._answer(request, result.status, report, {"database": connected})

    async def dependencies(self, request: Request) -> Response:
        """Every registered check; 503 only when a critical one fails."""
        report = await self.runner.run(None, request_id=_request_id(request))
        return self._answer(request, report.status, report)

    # --- answer -------------------------------------------------------------------------------
    def _answer(
        self, request: Request, status: Status, report: Report | None, extra: dict[str, Any] | None = None
    ) -> Response:
        details = report.results if report is not None and self.may_see_details(request) else None
        now = utc_now()
        uptime = time.monotonic() - self._started
        version = self.settings.effective_version
        code = 503 if status is Status.FAIL else 200
        if wants_health_json(request.headers.get("accept")):
            body = ietf_body(
                status,
                version=version,
                service=self.settings.service_name,
                now=now,
                uptime=uptime,
                results=details,
                description=f"health of {self.settings.service_name}",
            )
            media = HEALTH_JSON
        else:
            body = spec_body(status, version=version, now=now, uptime=uptime, results=details)
            body.update(extra or {})
            media = "application/json"
        return Response(orjson.dumps(body), status_code=code, media_type=media, headers=_NO_STORE)

    def may_see_details(self, request: Request) -> bool:
        """What the ops guard decided for this request (the token, else loopback only)."""
        allowed = getattr(request.state, "glowops_ops_allowed", None)
        return bool(allowed) if allowed is not None else self.guard.check(request.scope).allowed


def _request_id(request: Request) -> str | None:
    """The request ID set by glowops' middleware, else a well-formed incoming X-Request-ID."""
    current = current_request_id()
    if current:
        return current
    raw = request.headers.get("x-request-id")
    return raw if raw is not None and _REQUEST_ID.fullmatch(raw) else None


def install_health(
    app: Starlette,
    settings: Settings,
    registry: HealthRegistry | None = None,
    checks: Iterable[HealthCheck] = (),
    guard: OpsGuard | None = None,
) -> HealthEndpoints:
    """Add the health routes to ``app`` with the service's declared ``checks``; returns them.

    glowops adds only what it owns (its state volume; backup freshness when backups are
    configured, see :func:`glowops.health.checks.glowops_checks`) unless a declared check
    already has that name. More checks can be added later through the returned object's
    ``registry`` (or ``get_health(app).registry``)::

        health = install_health(app, settings, checks=[checks.database(engine)])
        health.registry.add(checks.redis("redis://cache:6379/0", critical=False))

    Calling it twice on one app returns the first installation. The checks' resources are
    released on app shutdown.
    """
    existing = get_health(app)
    if existing is not None:
        return existing
    registry = registry if registry is not None else HealthRegistry()
    for check in checks:
        registry.add(check)
    for check in glowops_checks(settings):
        if check.name not in registry:
            registry.add(check)
    endpoints = HealthEndpoints(settings, registry, HealthRunner.from_settings(registry, settings), guard)
    app.router.routes.extend(endpoints.routes())
    setattr(app.state, _APP_ATTR, endpoints)
    _close_on_shutdown(app, endpoints.runner)
    return endpoints


def get_health(app: Starlette) -> HealthEndpoints | None:
    """What :func:`install_health` installed on ``app``, or None."""
    found: HealthEndpoints | None = getattr(app.state, _APP_ATTR, None)
    return found


def _close_on_shutdown(app: Starlette, runner: HealthRunner) -> None:
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner_app: Any) -> AsyncIterator[Any]:
        try:
            async with original(inner_app) as maybe_state:
                yield maybe_state
        finally:
            await runner.aclose()

    app.router.lifespan_context = lifespan
