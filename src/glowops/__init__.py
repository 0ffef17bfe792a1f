"""glowops: the observability and operations layer of Prisma Glow services.

Public API::

    import glowops
    glowops.instrument(app)          # request IDs, JSON logs, redaction, metrics, tracing, errors, health
    log = glowops.get_logger()       # a structlog logger bound to the request context
    glowops.metrics.counter("assistant.tool_invocations", tags={"tool": "search"})
    glowops.bind_context(user_id=user.id, org_id=org.id)   # from the auth dependency
    glowops.instrument_clients(settings, engine=engine, redis=redis, http_clients=(client,))
    glowops.register_pack(pack)      # a glowops.Pack: the service's metrics, dashboards, rules, runbooks
"""

from __future__ import annotations

__version__ = "0.1.0"  # before the imports: modules they load read it

from typing import Any

from glowops import extras
from glowops.install import InstrumentState, instrument
from glowops.packs import Pack, register_pack
from glowops.settings import Settings
from glowops.telemetry.context import bind_context, current_request_id
from glowops.telemetry.logging import get_logger
from glowops.telemetry.metrics import metrics

__all__ = [
    "InstrumentState",
    "Pack",
    "bind_context",
    "current_request_id",
    "get_logger",
    "instrument",
    "instrument_clients",
    "metrics",
    "register_pack",
]


def instrument_clients(
    settings: Settings, *, engine: Any = None, redis: Any = None, http_clients: tuple[Any, ...] = ()
) -> None:
    """Spans and request-ID propagation on a service's database engine, Redis and HTTP clients
    (needs glowops[tracing]; see :func:`glowops.telemetry.tracing.instrument_clients`)."""
    tracing = extras.load("tracing", "glowops.telemetry.tracing", "glowops.instrument_clients()")
    tracing.instrument_clients(settings, engine=engine, redis=redis, http_clients=http_clients)
