"""The gateway's app factory: ``create_app(settings) -> FastAPI``.

Run it with ``prisma-glow-gateway serve`` (which applies the migrations first) or any ASGI server::

    uvicorn --factory prisma_glow_gateway:create_app
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

import glowops
from glowops.settings import Settings
from glowops_prismaglow import pack as prismaglow_pack
from prisma_glow_gateway.assistant.router import router as assistant_router
from prisma_glow_gateway.bodylimit import BodyLimit, LimitFor
from prisma_glow_gateway.gauges import refresh_approval_gauges, refresh_document_gauges, sweep_overdue
from prisma_glow_gateway.health import gateway_checks
from prisma_glow_gateway.outages import RequestDeadline, export_known_outages
from prisma_glow_gateway.problems import install_problem_handlers
from prisma_glow_gateway.routers.approvals import router as approvals_router
from prisma_glow_gateway.routers.auth import router as auth_router
from prisma_glow_gateway.routers.documents import router as documents_router
from prisma_glow_gateway.settings import GatewaySettings, as_gateway_settings, load_settings
from prisma_glow_gateway.state import Gateway

_log = glowops.get_logger("prisma_glow_gateway")


async def _sweeper(gateway: Gateway, interval: float) -> None:
    """Mark overdue approvals and refresh the gauges periodically, even with no traffic."""
    while True:
        try:
            await sweep_overdue(gateway.db, gateway.settings.mfa_amount_threshold)
            await refresh_approval_gauges(gateway.db)
            await refresh_document_gauges(gateway.db)
        except Exception as err:  # a database blip must not end the loop
            _log.warning("sweep_failed", error=type(err).__name__)
        await asyncio.sleep(interval)


# Multipart framing around the file (boundaries, part headers, small fields).
MULTIPART_ALLOWANCE = 64 * 1024
# Logins, MFA codes, logout: a few hundred bytes each.
AUTH_BODY_MAX_BYTES = 16 * 1024


def body_limits(settings: GatewaySettings) -> LimitFor:
    """The body limit of each route: uploads, the small auth bodies, every other endpoint."""

    def limit_for(method: str, path: str) -> int:
        if method == "POST" and path.rstrip("/") == "/documents":
            return settings.upload_max_bytes + MULTIPART_ALLOWANCE
        if path.startswith("/auth/"):
            return AUTH_BODY_MAX_BYTES
        return settings.body_max_bytes

    return limit_for


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway (its engine connects lazily, on the first request).

    ``settings``: the gateway's, or glowops' own :class:`~glowops.settings.Settings` (the gateway
    reads the rest of its fields from the environment); default: the environment.
    """
    settings = as_gateway_settings(settings) if settings is not None else load_settings()
    gateway = Gateway.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_sweeper(gateway, interval=15.0), name="glowops-sweeper")]
        if settings.demo:
            from prisma_glow_gateway.demo import run_builtin_demo

            tasks.append(asyncio.create_task(run_builtin_demo(settings), name="glowops-demo"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await gateway.close()

    app = FastAPI(
        title="Prisma Glow gateway",
        version=glowops.__version__,
        lifespan=lifespan,
        description="The reference Prisma Glow API observed by glowops: assistant, documents, "
        "approvals, org-scoped data.",
    )
    app.state.gateway = gateway
    install_problem_handlers(app)
    # Outside routing and authentication: an oversized body is refused before it is read.
    app.add_middleware(BodyLimit, limit_for=body_limits(settings))
    # Inside glowops' middleware (which wraps the whole stack), so the 503 is counted and logged.
    app.add_middleware(RequestDeadline, seconds=settings.request_timeout_seconds)
    export_known_outages()
    app.include_router(auth_router)
    app.include_router(assistant_router)
    app.include_router(documents_router)
    app.include_router(approvals_router)

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, Any]:
        return {"service": settings.service_name, "docs": "/docs", "metrics": "/metrics", "health": "/health"}

    # The Prisma Glow pack: the gateway's domain metrics, its four dashboards, rules and runbooks.
    glowops.instrument(
        app, settings=settings, checks=gateway_checks(settings), packs=[prismaglow_pack], configure_logs=True
    )
    return app
