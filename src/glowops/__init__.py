"""glowops: the observability and operations layer of Prisma Glow services.

Public API::

    import glowops
    glowops.instrument(app)          # request IDs, JSON logs, redaction, metrics, tracing, errors, health
    log = glowops.get_logger()       # a structlog logger bound to the request context
    glowops.metrics.counter("assistant.tool_invocations", tags={"tool": "search"})
    glowops.bind_context(user_id=user.id, org_id=org.id)   # from the auth dependency
    glowops.instrument_clients(settings, engine=engine, redis=redis, http_clients=(client,))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glowops.telemetry.context import bind_context, current_request_id
from glowops.telemetry.metrics import metrics

if TYPE_CHECKING:
    from glowops.settings import Settings

__all__ = ["bind_context", "current_request_id", "get_logger", "instrument", "instrument_clients", "metrics"]
__version__ = "0.1.0"


def instrument(app: Any, settings: Settings | None = None, **options: Any) -> Any:
    """Install glowops on a FastAPI or Starlette app (idempotent); returns the app.

    See :func:`glowops.install.instrument` for the options (``checks=``, ``packs=``...).
    """
    from glowops.install import instrument as _instrument

    return _instrument(app, settings=settings, **options)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; request_id, user_id, org_id and trace ids are added automatically."""
    from glowops.telemetry.logging import get_logger as _get_logger

    return _get_logger(name, **initial)


def instrument_clients(
    settings: Settings, *, engine: Any = None, redis: Any = None, http_clients: tuple[Any, ...] = ()
) -> None:
    """Spans and request-ID propagation on a service's database engine, Redis and HTTP clients."""
    from glowops.telemetry.tracing import instrument_clients as _instrument_clients

    _instrument_clients(settings, engine=engine, redis=redis, http_clients=http_clients)
