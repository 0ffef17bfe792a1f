"""``/metrics`` in the Prometheus text format, or OpenMetrics when the scraper asks for it.

Guarded by :class:`~glowops.ops_guard.OpsGuard`. Under several worker processes
(``PROMETHEUS_MULTIPROC_DIR`` set) each scrape aggregates every worker's files
(:func:`glowops.telemetry.multiproc.scrape_registry`). With ``GLOWOPS_OPS_PORT`` set, the endpoint is
not on the app at all but on a small server bound to 127.0.0.1 (:class:`OpsServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
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


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    """The loopback-only ops server, started and stopped by the app's lifespan."""

    def __init__(self, app: OpsApp, port: int, host: str = "127.0.0.1") -> None:
        # log_level None: leave the levels of the host's uvicorn loggers alone
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off", log_level=None
        )
        self.server = _QuietServer(config)
        self.host = host
        self.port = port
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind 127.0.0.1:port and serve; raises OSError naming the port when it is taken."""
        # Bind here rather than in uvicorn: its bind error exits the process.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as err:
            sock.close()
            where = f"{self.host}:{self.port}"
            raise OSError(f"GLOWOPS_OPS_PORT: cannot listen on {where}: {err.strerror}") from None
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started and not self._task.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.005)
        _log.info("ops endpoints listening on http://%s:%d%s", self.host, self.port, METRICS_PATH)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._task
        self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
