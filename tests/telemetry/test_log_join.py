"""A service that set up its own logging keeps it: glowops joins with context and redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from fastapi import FastAPI
from telemetry_helpers import client_for

import glowops
from glowops.settings import Settings
from glowops.telemetry import logging as glowops_logging

pytestmark = pytest.mark.anyio

SECRET_LINE = "retrying with password=hunter2 for jane.doe@example.com"


@pytest.fixture
def host_handler() -> Iterator[io.StringIO]:
    """The service's own root handler, as ``logging.basicConfig(format=...)`` would install it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s|%(request_id)s|%(message)s"))
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    for existing in saved[0]:
        if glowops_logging.is_glowops_handler(existing):
            root.removeHandler(existing)  # a previous test's glowops pipeline
    glowops_logging._pipeline = None
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    glowops_logging._joined = False


def _app() -> FastAPI:
    app = FastAPI(title="Billing API")

    @app.get("/invoices/{number}")
    async def invoice(number: str) -> dict[str, str]:
        logging.getLogger("billing").warning(SECRET_LINE)
        return {"number": number}

    glowops.instrument(app, Settings(), tracer=False, error_reporter=False, health=False)
    return app


async def test_stdlib_logging_of_the_service_is_kept_and_joined(host_handler: io.StringIO) -> None:
    root_before = list(logging.getLogger().handlers)
    async with client_for(_app()) as client:
        response = await client.get(
            "/invoices/42?email=jane.doe@example.com", headers={"x-request-id": "req-join-1"}
        )
    assert response.status_code == 200
    assert logging.getLogger().handlers == root_before  # nothing replaced, nothing added
    lines = host_handler.getvalue().splitlines()
    billing = next(line for line in lines if line.startswith("billing|"))
    assert billing.startswith("billing|req-join-1|")  # the request context reached the record
    assert "hunter2" not in billing and "jane.doe@example.com" not in billing
    access = next(line for line in lines if line.startswith("glowops.access|"))
    assert access == "glowops.access|req-join-1|request"
    assert not glowops_logging.is_configured()  # glowops' own pipeline was not installed


async def test_a_structlog_configuration_keeps_its_renderer(host_handler: io.StringIO) -> None:
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    try:
        app = FastAPI(title="Ledger")

        @app.get("/")
        async def index() -> dict[str, bool]:
            structlog.get_logger().info("charged", card="4111 1111 1111 1111", note=SECRET_LINE)
            return {"ok": True}

        glowops.instrument(app, Settings(), tracer=False, error_reporter=False, health=False)
        async with client_for(app) as client:
            assert (await client.get("/", headers={"x-request-id": "req-join-2"})).status_code == 200
        (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
        assert line["event"] == "charged" and line["level"] == "info"  # the service's own format
        assert line["request_id"] == "req-join-2"
        assert "4111 1111 1111 1111" not in json.dumps(line) and "hunter2" not in line["note"]
    finally:
        structlog.reset_defaults()


async def test_an_explicit_stream_means_glowops_owns_logging(host_handler: io.StringIO) -> None:
    stream = io.StringIO()
    app = FastAPI()
    glowops.instrument(app, Settings(), log_stream=stream, tracer=False, error_reporter=False, health=False)
    assert glowops_logging.is_configured()
    async with client_for(app) as client:
        await client.get("/nowhere")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(e["event"] == "request" and e["path"] == "/nowhere" for e in events)
