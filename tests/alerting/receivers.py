"""Local receivers speaking the channels' wire protocols, recording what they get."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """An HTTP server; ``responses`` is a queue of (status, headers, body) answered in turn
    (then 2xx). PagerDuty paths answer 202 with Events v2's JSON."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    responses: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    hold: threading.Event | None = None  # when set to an unset event, requests block until it is set
    arrived: threading.Event = field(default_factory=threading.Event)
    attempts: list[Received] = field(default_factory=list)  # every request, accepted or not

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r.body for r in self.requests if path is None or r.path == path]


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            with contextlib.suppress(OSError):  # the client died (the crash test kills it mid-request)
                self._post()

        def _post(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            receiver.attempts.append(Received(self.path, dict(self.headers), json.loads(raw)))
            receiver.arrived.set()
            if receiver.hold is not None:
                receiver.hold.wait(30)
            status, headers, text = receiver.responses.pop(0) if receiver.responses else (0, {}, "")
            if not status:
                status = 202 if self.path.startswith("/pagerduty") else 200
                text = (
                    json.dumps(
                        {
                            "status": "success",
                            "message": "Event processed",
                            "dedup_key": json.loads(raw).get("dedup_key"),
                        }
                    )
                    if status == 202
                    else "ok"
                )
            if 200 <= status < 300:
                receiver.requests.append(Received(self.path, dict(self.headers), json.loads(raw)))
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())
            except OSError:  # the client died (the crash test kills it mid-request)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
