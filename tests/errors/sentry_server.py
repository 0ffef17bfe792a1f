"""A local Sentry ingest endpoint: accepts ``POST /api/<project>/envelope/`` like sentry.io does.

It decompresses the body (gzip, deflate, br when brotli is installed), parses the envelope
(header line, then items each with a header line and a payload of ``length`` bytes or up to
the next newline) and keeps the events. ``status`` sets the HTTP answer (401 to refuse).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ENVELOPE_PATH = re.compile(r"^/api/(\d+)/envelope/?$")


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """(envelope header, [(item header, payload bytes)])."""
    header_line, _, rest = body.partition(b"\n")
    header = json.loads(header_line)
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        items.append((item_header, payload))
    return header, items


@dataclass
class SentryServer:
    status: int = 200
    events: list[dict[str, Any]] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                match = _ENVELOPE_PATH.match(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if match is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                server._record(
                    match.group(1),
                    self.headers.get("Content-Encoding", ""),
                    self.headers.get("X-Sentry-Auth", ""),
                    body,
                )
                answer = b'{"id":"accepted"}' if server.status == 200 else b'{"detail":"invalid key"}'
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def start(self) -> SentryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _record(self, project: str, encoding: str, auth: str, body: bytes) -> None:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # only when the SDK found brotli installed

            body = brotli.decompress(body)
        _, items = parse_envelope(body)
        with self._lock:
            self.raw_bodies.append(body)
            self.auth_headers.append(auth)
            self.projects.append(project)
            for item_header, payload in items:
                if item_header.get("type") == "event":
                    self.events.append(json.loads(payload))
                elif item_header.get("type") == "transaction":
                    self.transactions.append(json.loads(payload))

    def wait_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} Sentry events, got {len(self.events)}")
