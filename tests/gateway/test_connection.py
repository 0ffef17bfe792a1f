"""What a client sees on the wire from the gateway under real uvicorn: kept connections, problems.

Raw sockets, because the points are the connection itself (a 500 must not reset it) and the
bytes uvicorn answers before any app runs (a header with a raw line break).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest
from gateway_helpers import settings_for

from glowops.serving import ProblemHTTPProtocol
from peers import serve_app
from prisma_glow_gateway.app import create_app
from prisma_glow_gateway.migrate import upgrade


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = settings_for("sqlite", tmp_path_factory.mktemp("conn"))
    upgrade(settings)
    app = create_app(settings)

    async def explode() -> None:
        raise RuntimeError("boom inside a route")

    app.add_api_route("/test/explode", explode)
    with serve_app(app, http=ProblemHTTPProtocol) as url:
        yield url


def _connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body (what the gateway sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def _get(path: str, extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gateway\r\n".encode() + extra + b"\r\n"


def test_a_500_keeps_the_keep_alive_connection(base_url: str) -> None:
    with _connect(base_url) as sock:
        sock.sendall(_get("/test/explode"))
        status, headers, body = _read_response(sock)
        assert status == 500 and headers["content-type"] == "application/problem+json"
        assert "boom" not in body.decode() and headers.get("connection", "") != "close"
        # The next request on the very same connection reaches the app and is answered.
        sock.sendall(_get("/health/live", b"X-Request-ID: after-the-500\r\n"))
        status, headers, _ = _read_response(sock)
        assert status == 200 and headers["x-request-id"] == "after-the-500"


def test_a_raw_line_break_in_a_header_is_a_problem_400(base_url: str) -> None:
    with _connect(base_url) as sock:
        sock.sendall(_get("/health/live", b"X-Request-ID: abc\n\x01def\r\n"))
        status, headers, body = _read_response(sock)
    assert status == 400 and headers["content-type"] == "application/problem+json"
    problem = orjson.loads(body)
    assert problem["status"] == 400 and "line break" in problem["detail"]


def test_malformed_json_names_line_and_column(base_url: str) -> None:
    body = b'{"email": "a@b.example",\n  "password": "x",,\n}'
    with _connect(base_url) as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status, headers, answer = _read_response(sock)
    assert status == 400 and headers["content-type"] == "application/problem+json"
    problem = orjson.loads(answer)
    assert "line 2, column 19" in problem["detail"], problem
    assert problem["errors"] == [
        {"field": "body", "message": problem["errors"][0]["message"], "line": 2, "column": 19}
    ]
    assert "password" not in problem["detail"] and "a@b.example" not in answer.decode()
