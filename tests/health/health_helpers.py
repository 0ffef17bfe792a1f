"""Local peers for the health tests: a socket that never answers, a counting TCP proxy in front
of the real PostgreSQL/Redis, an HTTP server playing Supabase and OpenAI, uvicorn in a thread.

The apps under test declare the checks the reference gateway declares (database; Redis,
Supabase, OpenAI when configured), built with glowops' public check builders."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from starlette.applications import Starlette

from glowops.health import HealthEndpoints, HealthRegistry, install_health
from prisma_glow_gateway.health import gateway_checks
from prisma_glow_gateway.settings import GatewaySettings

SECRET = "hunter2-secret"
SECRET_HOST = "db-secret-host.invalid"


def settings_with(base: dict[str, object], **overrides: object) -> GatewaySettings:
    return GatewaySettings(**{**base, **overrides})  # type: ignore[arg-type]


def make_app(
    settings: GatewaySettings, registry: HealthRegistry | None = None
) -> tuple[Starlette, HealthEndpoints]:
    """A tiny Starlette app with nothing but the health routes and the gateway's declared checks."""
    app = Starlette()
    return app, install_health(app, settings, registry, checks=gateway_checks(settings))


def asgi_client(app: Starlette, client: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client), base_url="http://app")


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HangServer:
    """Accepts TCP connections and never sends a byte; counts connections still open."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                self._reap()
                continue
            conn.setblocking(False)
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            self._reap()

    def _reap(self) -> None:
        """Drop connections the client has closed (a read returns b"")."""
        with self._lock:
            alive = []
            for conn in self._conns:
                try:
                    data = conn.recv(65536)
                except BlockingIOError:
                    alive.append(conn)
                    continue
                except OSError:
                    conn.close()
                    continue
                if data:
                    alive.append(conn)  # the client spoke (a handshake); we still never answer
                else:
                    conn.close()
            self._conns = alive

    def open_connections(self) -> int:
        self._reap()
        with self._lock:
            return len(self._conns)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        with self._lock:
            for conn in self._conns:
                conn.close()
        self._listener.close()


class CountingProxy:
    """A TCP proxy on its own event loop thread, counting the connections it forwards."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(2)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2)


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0


@dataclass
class FakeSaaS:
    """An HTTP server answering like Supabase (/auth/v1/health) and OpenAI (/v1/models)."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    headers: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def set(self, path: str, status: int = 200, delay: float = 0.0) -> None:
        self.behaviours[path] = Behaviour(status, delay)

    def start(self) -> FakeSaaS:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                fake.hits[path] = fake.hits.get(path, 0) + 1
                fake.headers.setdefault(path, []).append({k.lower(): v for k, v in self.headers.items()})
                behaviour = fake.behaviours.get(path, Behaviour(404))
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                body = b'{"ok": true}' if behaviour.status < 400 else b'{"error": "nope from db-internal"}'
                try:
                    self.send_response(behaviour.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def serve(app: Starlette) -> AbstractContextManager[str]:
    """Serve ``app`` with uvicorn in a thread on a free port; yields its base URL."""
    from peers import serve_app

    return serve_app(app)
