"""Local receivers for every sink the leak scan reads: one HTTP recorder and an SMTP server.

The HTTP recorder speaks just enough of each protocol for the real clients to be satisfied:
Sentry's envelope endpoint (``/api/<project>/envelope/``), OTLP/HTTP traces (``/v1/traces``),
PagerDuty Events v2 (``/pagerduty/...``: 202 with a dedup key), and plain webhooks (Slack,
Teams, generic: 200). It keeps every body, decompressed (gzip, deflate, br), for the scan.
"""

from __future__ import annotations

import email
import gzip
import json
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Body:
    path: str
    content_type: str
    data: bytes


@dataclass
class Recorder:
    """Records every POST; ``bodies(prefix)`` returns those whose path starts with ``prefix``."""

    received: list[Body] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                data = _decompress(raw, self.headers.get("Content-Encoding", ""))
                with recorder._lock:
                    recorder.received.append(Body(self.path, self.headers.get("Content-Type", ""), data))
                status, answer, kind = 200, b"ok", "text/plain"
                if self.path.startswith("/api/"):
                    answer, kind = b'{"id":"accepted"}', "application/json"
                elif self.path.startswith("/v1/traces"):
                    answer, kind = b"", "application/x-protobuf"
                elif self.path.startswith("/pagerduty"):
                    status, kind = 202, "application/json"
                    dedup = json.loads(data or b"{}").get("dedup_key", "")
                    answer = json.dumps(
                        {"status": "success", "message": "Event processed", "dedup_key": dedup}
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self, prefix: str) -> list[Body]:
        with self._lock:
            return [body for body in self.received if body.path.startswith(prefix)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _decompress(raw: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    if encoding == "br":
        import brotli  # only when the client found brotli installed

        return bytes(brotli.decompress(raw))
    return raw


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content)
        parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
        text = "\n".join(p.decode("utf-8", "replace") for p in parts if isinstance(p, bytes))
        self.messages.append(f"Subject: {message['Subject']}\n{text}")
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a free port; ``messages`` holds each mail's subject and decoded parts."""

    def __init__(self, port: int) -> None:
        self.mailbox = _Mailbox()
        self.port = port
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=port)
        self.controller.start()

    @property
    def messages(self) -> list[str]:
        return self.mailbox.messages

    def stop(self) -> None:
        self.controller.stop()
