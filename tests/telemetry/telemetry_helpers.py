"""Helpers of the telemetry tests (importable; fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import httpx


class LogCapture:
    """The lines glowops wrote to its stream, parsed."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == "glowops.access"]


def client_for(app: Any, client: tuple[str, int] = ("127.0.0.1", 5555)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def raw_request(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], method: str = "GET"
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Call the ASGI app directly: lets a test send header bytes no HTTP client would."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5555),
        "headers": headers,
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    with contextlib.suppress(Exception):  # re-raised to the server after the 500, like Starlette
        await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body
