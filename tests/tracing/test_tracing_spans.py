"""Server spans, child spans and propagation, received by a local OTLP/HTTP collector."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from otlp_receiver import OTLPReceiver, ReceivedSpan
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tracing_helpers import Traced

from glowops.settings import to_async_url
from glowops.telemetry.tracing import instrument_httpx_client, instrument_redis, instrument_sqlalchemy

pytestmark = pytest.mark.anyio

SERVER, CLIENT = 2, 3  # OTLP SpanKind values
STATUS_ERROR = 2
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def one_server_span(spans: list[ReceivedSpan]) -> ReceivedSpan:
    servers = [s for s in spans if s.kind == SERVER]
    assert len(servers) == 1, [s.name for s in spans]
    return servers[0]


def basic_app() -> FastAPI:
    app = FastAPI()
    orgs = APIRouter(prefix="/orgs/{org_id}")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @orgs.get("/documents")
    async def documents(org_id: str) -> list[str]:
        return []

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password=hunter2 rejected for jane.doe@example.com")

    @app.get("/unavailable")
    async def unavailable() -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": "later"}, status_code=503)

    @app.get("/users/{email}/profile")
    async def profile(email: str) -> dict[str, str]:
        return {}

    app.include_router(orgs)
    return app


async def test_server_span_has_route_name_and_stable_http_attributes(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced]
) -> None:
    traced = traced_app(basic_app(), receiver.endpoint, service_name="gateway", environment="staging")
    async with traced.client() as client:
        response = await client.get("/items/42?q=1", headers={"User-Agent": "probe/1.0"})
    assert response.status_code == 200
    traced.flush()
    span = one_server_span(receiver.wait_for(lambda s: len(s) >= 1))
    assert span.name == "GET /items/{item_id}"
    assert span.parent_span_id == ""
    assert span.attributes == {
        "http.request.method": "GET",
        "url.path": "/items/42",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "server.address": "api.example.test",
        "server.port": 8080,
        "client.address": "10.1.2.3",
        "user_agent.original": "probe/1.0",
        "http.route": "/items/{item_id}",
        "http.response.status_code": 200,
    }
    assert span.resource["service.name"] == "gateway"
    assert span.resource["service.version"] == "1.2.3"
    assert span.resource["deployment.environment"] == "staging"
    assert receiver.requests[0]["path"] == "/v1/traces"  # base endpoint + signal path (OTel spec)


async def test_prefixed_router_unmatched_path_and_errors(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced]
) -> None:
    traced = traced_app(basic_app(), receiver.endpoint)
    async with traced.client() as client:
        assert (await client.get("/orgs/o-1/documents")).status_code == 200
        assert (await client.get("/no/such/path")).status_code == 404
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/unavailable")).status_code == 503
    traced.flush()
    spans = {s.attributes["url.path"]: s for s in receiver.wait_for(lambda s: len(s) >= 4)}
    assert spans["/orgs/o-1/documents"].name == "GET /orgs/{org_id}/documents"
    unmatched = spans["/no/such/path"]
    assert unmatched.name == "GET" and "http.route" not in unmatched.attributes
    assert unmatched.attributes["http.response.status_code"] == 404
    assert unmatched.status_code != STATUS_ERROR  # 4xx is the client's error, not the server's
    boom = spans["/boom"]
    assert boom.name == "GET /boom" and boom.status_code == STATUS_ERROR
    assert boom.attributes["error.type"] == "RuntimeError"
    assert boom.attributes["http.response.status_code"] == 500
    [event] = boom.events
    assert event["name"] == "exception"
    rendered = json.dumps(event)
    assert "hunter2" not in rendered and "jane.doe@example.com" not in rendered
    assert "***REDACTED***" in event["attributes"]["exception.message"]
    unavailable = spans["/unavailable"]
    assert unavailable.status_code == STATUS_ERROR and unavailable.attributes["error.type"] == "503"


async def test_incoming_traceparent_is_continued_and_logs_carry_the_ids(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced]
) -> None:
    import glowops

    app = basic_app()

    @app.get("/logged")
    async def logged() -> dict[str, str]:
        glowops.get_logger("test").info("inside")
        return {}

    traced = traced_app(app, receiver.endpoint)
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "vendor=abc"}
    async with traced.client() as client:
        await client.get("/logged", headers=headers)
    traced.flush()
    span = one_server_span(receiver.wait_for(lambda s: len(s) >= 1))
    assert span.trace_id == TRACE_ID and span.parent_span_id == PARENT_ID
    lines = traced.log_lines()
    inside = next(line for line in lines if line["event"] == "inside")
    access = next(line for line in lines if line["logger"] == "glowops.access")
    for line in (inside, access):
        assert line["trace_id"] == TRACE_ID and line["span_id"] == span.span_id


async def test_no_personal_data_in_any_attribute(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced]
) -> None:
    traced = traced_app(basic_app(), receiver.endpoint)
    async with traced.client() as client:
        await client.get(
            "/users/jane.doe@example.com/profile",
            headers={"User-Agent": "b (jane.doe@example.com; sk-Ab3dEf9hIj2LmN0pQr5tUvWx)"},
        )
    traced.flush()
    span = one_server_span(receiver.wait_for(lambda s: len(s) >= 1))
    rendered = json.dumps([span.attributes, span.events, span.name])
    assert "jane.doe@example.com" not in rendered and "sk-Ab3dEf9hIj2LmN0pQr5tUvWx" not in rendered
    assert span.attributes["url.path"] == "/users/***REDACTED***/profile"
    assert span.name == "GET /users/{email}/profile"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgres":
        return to_async_url(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"


async def test_sql_statements_are_child_spans_of_the_request(
    database_url: str, receiver: OTLPReceiver, traced_app: Callable[..., Traced]
) -> None:
    engine = create_async_engine(database_url)
    app = FastAPI()

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT 40 + :n"), {"n": 2})).scalar_one()
        return {"value": value}

    traced = traced_app(app, receiver.endpoint)
    instrument_sqlalchemy(engine, traced.setup.provider)
    instrument_sqlalchemy(engine, traced.setup.provider)  # idempotent: still one span per statement
    try:
        async with traced.client() as client:
            assert (await client.get("/count")).json() == {"value": 42}
    finally:
        await engine.dispose()
    traced.flush()
    spans = receiver.wait_for(lambda s: len(s) >= 2)
    server = one_server_span(spans)
    [sql] = [s for s in spans if s.kind == CLIENT]
    assert sql.parent_span_id == server.span_id and sql.trace_id == server.trace_id
    assert "SELECT" in sql.name
    assert sql.scope == "opentelemetry.instrumentation.sqlalchemy"


class _EchoHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_outgoing_httpx_calls_carry_traceparent_and_request_id(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced], echo_server: str
) -> None:
    app = FastAPI()
    holder: dict[str, httpx.AsyncClient] = {}

    @app.get("/proxy")
    async def proxy() -> Any:
        return (await holder["client"].get("/echo")).json()

    traced = traced_app(app, receiver.endpoint)
    outgoing = instrument_httpx_client(httpx.AsyncClient(base_url=echo_server), traced.setup.provider)
    holder["client"] = outgoing
    try:
        async with traced.client() as client:
            response = await client.get(
                "/proxy", headers={"X-Request-ID": "req-123", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
            )
    finally:
        await outgoing.aclose()
    seen = response.json()
    assert seen["x-request-id"] == "req-123"
    traced.flush()
    spans = receiver.wait_for(lambda s: len(s) >= 2)
    server = one_server_span(spans)
    [call] = [s for s in spans if s.kind == CLIENT]
    assert call.parent_span_id == server.span_id and call.trace_id == TRACE_ID
    # the callee continues the trace under the client span
    assert seen["traceparent"] == f"00-{TRACE_ID}-{call.span_id}-01"


def test_request_id_propagation_without_tracing(echo_server: str) -> None:
    """Outside a request nothing is added; inside one, X-Request-ID is (sync client)."""
    from glowops.telemetry import context

    with instrument_httpx_client(httpx.Client(base_url=echo_server), tracer_provider=None) as client:
        assert "x-request-id" not in client.get("/").json()
        token = context.enter(context.RequestContext("abc-1"))
        try:
            assert client.get("/").json()["x-request-id"] == "abc-1"
            assert client.get("/", headers={"X-Request-ID": "explicit"}).json()["x-request-id"] == "explicit"
        finally:
            context.leave(token)


@pytest.mark.redis
async def test_redis_commands_are_child_spans(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced], redis_url: str
) -> None:
    import redis.asyncio

    redis_client = redis.asyncio.Redis.from_url(redis_url)
    app = FastAPI()

    @app.get("/cache")
    async def cache() -> dict[str, str]:
        await redis_client.set("glowops:test", "1")
        value = await redis_client.get("glowops:test")
        assert isinstance(value, bytes)
        return {"value": value.decode()}

    traced = traced_app(app, receiver.endpoint)
    instrument_redis(redis_client, traced.setup.provider)
    try:
        async with traced.client() as client:
            assert (await client.get("/cache")).json() == {"value": "1"}
    finally:
        await redis_client.aclose()
    traced.flush()
    spans = receiver.wait_for(lambda s: len(s) >= 3)
    server = one_server_span(spans)
    commands = sorted(s.name for s in spans if s.kind == CLIENT)
    assert commands == ["GET", "SET"]
    assert all(s.parent_span_id == server.span_id for s in spans if s.kind == CLIENT)


async def test_attributes_set_by_the_app_on_the_server_span_are_redacted(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced]
) -> None:
    from opentelemetry import trace

    app = FastAPI()

    @app.get("/annotated")
    async def annotated() -> dict[str, bool]:
        span = trace.get_current_span()
        span.set_attribute("db.password", "hunter2")
        span.set_attribute("app.note", "mail jane.doe@example.com please")
        span.set_attribute("app.count", 3)
        span.add_event("lookup", {"customer": "jane.doe@example.com"})
        return {"ok": True}

    traced = traced_app(app, receiver.endpoint)
    async with traced.client() as client:
        assert (await client.get("/annotated")).status_code == 200
    traced.flush()
    span = one_server_span(receiver.wait_for(lambda s: len(s) >= 1))
    rendered = json.dumps([span.attributes, span.events])
    assert "hunter2" not in rendered and "jane.doe@example.com" not in rendered
    assert span.attributes["db.password"] == "***REDACTED***"
    assert span.attributes["app.count"] == 3 and span.attributes["http.route"] == "/annotated"
    assert span.events[0]["name"] == "lookup"


TRACESTATE = (
    "vendor=abc,acct=jane.doe%40example.com,ph=%2B14155550123,gh=ghp_"
    + "a1B2c3D4e5" * 4
    + ",tok=sk_live_4eC39HqLyjWDarjtT1zdp7dc,ok=t61rcWkgMzE"
)


async def test_tracestate_goes_downstream_unchanged_but_is_exported_redacted(
    receiver: OTLPReceiver, traced_app: Callable[..., Traced], echo_server: str
) -> None:
    app = FastAPI()
    holder: dict[str, httpx.AsyncClient] = {}

    @app.get("/proxy")
    async def proxy() -> Any:
        return (await holder["client"].get("/echo")).json()

    traced = traced_app(app, receiver.endpoint)
    outgoing = instrument_httpx_client(httpx.AsyncClient(base_url=echo_server), traced.setup.provider)
    holder["client"] = outgoing
    try:
        async with traced.client() as client:
            response = await client.get(
                "/proxy", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": TRACESTATE}
            )
    finally:
        await outgoing.aclose()
    assert response.json()["tracestate"] == TRACESTATE  # W3C: propagated as received
    traced.flush()
    spans = receiver.wait_for(lambda s: len(s) >= 2)
    for span in spans:
        entries = dict(item.split("=", 1) for item in span.trace_state.split(","))
        assert entries == {
            "vendor": "abc",
            "acct": "***REDACTED***",
            "ph": "***REDACTED***",
            "gh": "***REDACTED***",
            "tok": "***REDACTED***",
            "ok": "t61rcWkgMzE",
        }, span.name
