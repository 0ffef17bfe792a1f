"""``/metrics`` in the Prometheus text format, or OpenMetrics when the scraper asks for it.

Guarded by :class:`~glowops.ops_guard.OpsGuard`. Under several worker processes
(``PROMETHEUS_MULTIPROC_DIR`` set) each scrape aggregates every worker's files
(:func:`glowops.telemetry.multiproc.scrape_registry`). With ``GLOWOPS_OPS_PORT`` set, the endpoint is
not on the app at all but on a small server bound to 127.0.0.1
(:class:`glowops.telemetry.ops_server.OpsServer`, glowops[server]).
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.types import Receive, Scope, Send

from glowops.ops_guard import OpsGuard
from glowops.settings import Settings
from glowops.telemetry.hooks import header
from glowops.telemetry.multiproc import scrape_registry

METRICS_PATH = "/metrics"
_log = logging.getLogger("glowops.exposition")


class MetricsEndpoint:
    """A pure ASGI app answering one scrape (mount it at ``/metrics``)."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry = REGISTRY, guard: OpsGuard | None = None
    ) -> None:
        self.guard = guard or OpsGuard(settings)
        self.registry = registry
        self.settings = settings

    def collect(self, accept: str) -> tuple[bytes, str]:
        """The exposition body and its content type for an ``Accept`` header value."""
        encoder, content_type = choose_encoder(accept)
        return encoder(scrape_registry(self.settings, self.registry)), content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = self.guard.check(scope)
        if not decision.allowed:
            await self.guard.refuse(scope, receive, send, decision, "/metrics")
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        accept = (header(scope, b"accept") or b"").decode("latin-1")
        body, content_type = self.collect(accept)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


class OpsApp:
    """The ASGI app of the loopback ops port: ``/metrics``, and 404 for anything else."""

    def __init__(self, metrics: MetricsEndpoint) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == METRICS_PATH:
            await self.metrics(scope, receive, send)
        else:
            await _plain(send, 404, b"not found\n", [])
