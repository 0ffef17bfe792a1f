"""X-Request-ID: safe values kept, hostile ones replaced and never logged, on every response."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from telemetry_helpers import raw_request

FRESH_ID = re.compile(r"[0-9a-f]{32}")


def _app(make_app: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the database went away")

    return make_app(app)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["abc", "f" * 128, "nginx.req_1:2-3", "00f067aa0ba902b7", "A"])
async def test_safe_request_id_is_kept_and_logged(make_app: Any, logs: Any, value: str) -> None:
    app = _app(make_app)
    status, headers, _ = await raw_request(app, "/ok", [(b"x-request-id", value.encode())])
    assert status == 200
    assert _header(headers, b"x-request-id") == [value.encode()]
    assert logs.access()[-1]["request_id"] == value


HOSTILE = [
    b"abc\r\nSet-Cookie: session=evil",
    b'","level":"critical","event":"forged',
    b"x" * 10_240,
    "caf\u00e9-\u2603".encode(),
    b"",
    b"x" * 129,
    b"has space",
    b"semi;colon",
    b"\x00\x01",
]


@pytest.mark.anyio
@pytest.mark.parametrize("raw", HOSTILE, ids=lambda v: repr(v[:20]))
async def test_hostile_request_id_is_replaced_and_never_logged(make_app: Any, logs: Any, raw: bytes) -> None:
    app = _app(make_app)
    status, headers, _ = await raw_request(app, "/ok", [(b"x-request-id", raw)])
    assert status == 200
    [returned] = _header(headers, b"x-request-id")
    assert FRESH_ID.fullmatch(returned.decode())
    lines = logs.lines()  # every line still parses as one JSON object
    assert lines and lines[-1]["request_id"] == returned.decode()
    if raw:
        assert raw.decode("latin-1") not in logs.text
        assert "forged" not in logs.text and "Set-Cookie" not in logs.text


@pytest.mark.anyio
async def test_fresh_ids_differ_per_request(make_app: Any) -> None:
    app = _app(make_app)
    seen = set()
    for _ in range(50):
        _, headers, _ = await raw_request(app, "/ok", [])
        seen.add(_header(headers, b"x-request-id")[0])
    assert len(seen) == 50


@pytest.mark.anyio
async def test_id_on_404_and_405(make_app: Any) -> None:
    app = _app(make_app)
    status, headers, _ = await raw_request(app, "/missing", [(b"x-request-id", b"req-404")])
    assert status == 404 and _header(headers, b"x-request-id") == [b"req-404"]
    status, headers, _ = await raw_request(app, "/ok", [(b"x-request-id", b"req-405")], method="POST")
    assert status == 405 and _header(headers, b"x-request-id") == [b"req-405"]


@pytest.mark.anyio
async def test_unhandled_exception_answers_problem_json_with_the_id(make_app: Any, logs: Any) -> None:
    import json

    app = _app(make_app)
    status, headers, body = await raw_request(app, "/boom", [(b"x-request-id", b"req-500")])
    assert status == 500
    assert _header(headers, b"x-request-id") == [b"req-500"]
    assert _header(headers, b"content-type") == [b"application/problem+json"]
    problem = json.loads(body)
    assert problem["status"] == 500 and problem["request_id"] == "req-500"
    assert "database went away" not in body.decode()  # no exception text to the client
    [error] = logs.events("unhandled exception")
    assert error["level"] == "error" and error["request_id"] == "req-500"
    assert error["exception"][0]["exc_type"] == "RuntimeError"
    [access] = logs.access()
    assert access["status"] == 500 and access["route"] == "/boom"


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("t", 80),
        "client": ("127.0.0.1", 1),
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


@pytest.mark.anyio
async def test_an_answered_exception_is_not_reraised_to_the_server(make_app: Any) -> None:
    """The client has its whole 500: re-raising would only make the server drop the connection."""
    app = _app(make_app)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope("/boom"), _receive, send)  # returns normally
    assert sent[0]["status"] == 500 and sent[-1].get("more_body", False) is False


@pytest.mark.anyio
async def test_an_exception_mid_response_is_reraised_so_the_server_aborts(make_app: Any) -> None:
    """A half-sent answer cannot be completed: the server must close the connection."""
    from starlette.responses import StreamingResponse

    app = FastAPI()

    async def chunks() -> Any:
        yield b"first chunk"
        raise RuntimeError("stream broke")

    @app.get("/half")
    async def half() -> StreamingResponse:
        return StreamingResponse(chunks())

    make_app(app)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(BaseException) as raised:  # the streaming task group may wrap it
        await app(_scope("/half"), _receive, send)
    assert "stream broke" in repr(raised.value)
    assert sent[0]["status"] == 200 and sent[-1].get("more_body") is True


@pytest.mark.anyio
async def test_app_handler_for_500_is_respected_and_gets_the_header(make_app: Any) -> None:
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    @app.exception_handler(Exception)
    async def mine(request: Any, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("our own 500", status_code=500)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("x")

    make_app(app)
    status, headers, body = await raw_request(app, "/boom", [(b"x-request-id", b"mine-1")])
    assert (status, body) == (500, b"our own 500")
    assert _header(headers, b"x-request-id") == [b"mine-1"]


# Request IDs of a valid character set that carry secrets or personal data: replaced, counted,
# and never logged, echoed or tagged (the access line used to carry them as they were).
SECRET_IDS = [
    "123-45-6789",  # SSN
    "4111-1111-1111-1111",  # card
    "415.555.0123",  # phone
    "req-415-555-0123",
    "order-4111111111111111",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl",  # JWT
    "AKIAIOSFODNN7EXAMPLE",  # AWS
    "ghp_" + "a1B2c3D4e5" * 4,  # GitHub
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",  # Stripe
    "xoxb-123456789012-abcdefghijklmnopqrstuvwx",  # Slack
    "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8t",  # OpenAI
]


@pytest.mark.anyio
@pytest.mark.parametrize("value", SECRET_IDS)
async def test_request_id_holding_a_secret_is_replaced_counted_and_never_logged(
    make_app: Any, logs: Any, value: str
) -> None:
    from prometheus_client import REGISTRY

    def replaced() -> float:
        return sum(
            REGISTRY.get_sample_value("glowops_request_ids_replaced_total", {"reason": reason}) or 0.0
            for reason in ("shape", "secret")
        )

    app = _app(make_app)
    before = replaced()
    for path in ("/ok", "/boom"):
        _, headers, body = await raw_request(app, path, [(b"x-request-id", value.encode())])
        [returned] = _header(headers, b"x-request-id")
        assert FRESH_ID.fullmatch(returned.decode()), returned
        assert value.encode() not in body
    assert replaced() - before == 2
    assert value not in logs.text
    assert all(line["request_id"] != value for line in logs.lines())


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value",
    [
        "550e8400-e29b-41d4-a716-446655440000",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "105445aa7843bc8bf206b12000100000/1;o=1",
        "7d1c2b3a4e5f6789-SJC",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "web-7f9c-req-42",
        "req-2026-12-02",
    ],
)
async def test_request_ids_of_proxies_and_load_balancers_are_kept(
    make_app: Any, logs: Any, value: str
) -> None:
    app = _app(make_app)
    _, headers, _ = await raw_request(app, "/ok", [(b"x-request-id", value.encode())])
    assert _header(headers, b"x-request-id") == [value.encode()]
    assert logs.access()[-1]["request_id"] == value


def test_request_id_verdicts() -> None:
    from glowops.redaction import RedactionPolicy
    from glowops.telemetry.context import request_id_verdict

    policy = RedactionPolicy()
    assert request_id_verdict(b"has space", policy) == "shape"
    assert request_id_verdict(b"123456789", policy) == "shape"  # digits only: no letter
    assert request_id_verdict(b"jane@example.com", policy) == "shape"
    assert request_id_verdict(b"id-5551234567", policy) == "secret"
    assert request_id_verdict(b"AKIAIOSFODNN7EXAMPLE", policy) == "secret"
    assert request_id_verdict(b"abc", policy) is None


@pytest.mark.anyio
async def test_a_replaced_request_id_is_replaced_in_the_request_the_app_sees(make_app: Any) -> None:
    app = FastAPI()

    @app.get("/seen")
    async def seen(request: Request) -> dict[str, str]:
        return {"seen": request.headers.get("x-request-id", "")}

    make_app(app)
    status, headers, body = await raw_request(app, "/seen", [(b"x-request-id", b"ssn-123-45-6789")])
    [returned] = _header(headers, b"x-request-id")
    assert status == 200 and json.loads(body) == {"seen": returned.decode()}
