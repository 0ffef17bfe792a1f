"""The loopback-only ops server (``GLOWOPS_OPS_PORT``): /metrics beside the app, on uvicorn.

uvicorn comes with glowops[server]; the app's own server is the service's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from glowops.telemetry.exposition import METRICS_PATH, OpsApp

_log = logging.getLogger("glowops.exposition")


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
