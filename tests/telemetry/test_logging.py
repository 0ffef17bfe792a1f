"""Log lines: one JSON object per line, the same shape from structlog and the stdlib."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import structlog
from fastapi import BackgroundTasks, Depends, FastAPI
from telemetry_helpers import LogCapture

import glowops
from glowops.settings import Settings
from glowops.telemetry.logging import configure_logging

FIELDS = {
    "timestamp",
    "level",
    "event",
    "logger",
    "service",
    "environment",
    "version",
    "request_id",
    "user_id",
    "org_id",
}


def _auth() -> None:
    # a sync dependency: FastAPI runs it in the thread pool
    glowops.bind_context(user_id="user-7", org_id="org-3")


def _app(make_app: Any) -> FastAPI:
    app = FastAPI(title="Gateway")  # names the service: "gateway"
    log = glowops.get_logger("gateway.documents")

    def after_response() -> None:
        log.info("background_done", step=2)

    # What create_engine(echo=True) does; importing SQLAlchemy sets "sqlalchemy" to WARNING.
    logging.getLogger("sqlalchemy.engine.Engine").setLevel(logging.INFO)

    @app.post("/orgs/{org}/documents", dependencies=[Depends(_auth)])
    async def upload(org: str, background: BackgroundTasks) -> dict[str, str]:
        log.info("document_uploaded", doc_id="d-1", file_size=10)
        logging.getLogger("sqlalchemy.engine.Engine").info("INSERT INTO documents ...")
        structlog.get_logger().warning("plain_structlog")
        background.add_task(after_response)
        return {"doc": "d-1"}

    return make_app(app, environment="staging")


@pytest.mark.anyio
async def test_every_line_is_json_with_all_fields(
    make_app: Any, logs: LogCapture, client_factory: Any
) -> None:
    app = _app(make_app)
    response = await client_factory(app).post("/orgs/o/documents", headers={"x-request-id": "req-42"})
    assert response.status_code == 200
    lines = logs.lines()
    inside = [line for line in lines if line.get("request_id") == "req-42"]
    events = [line["event"] for line in inside]
    assert events[:3] == ["document_uploaded", "INSERT INTO documents ...", "plain_structlog"]
    assert {"background_done", "request"} <= set(events)
    for line in inside:
        assert line.keys() >= FIELDS, line
        assert (line["service"], line["environment"], line["version"]) == ("gateway", "staging", "9.9.9")
        assert line["user_id"] == "user-7" and line["org_id"] == "org-3"
        assert line["timestamp"].endswith("Z") and line["timestamp"][10] == "T"
    by_event = {line["event"]: line for line in inside}
    assert by_event["INSERT INTO documents ..."]["logger"] == "sqlalchemy.engine.Engine"
    assert by_event["document_uploaded"]["logger"] == "gateway.documents"
    assert by_event["document_uploaded"]["doc_id"] == "d-1"
    assert by_event["plain_structlog"]["level"] == "warning"
    assert by_event["background_done"]["step"] == 2


@pytest.mark.anyio
async def test_access_line(make_app: Any, logs: LogCapture, client_factory: Any) -> None:
    app = _app(make_app)
    await client_factory(app).post("/orgs/acme/documents?x=1", headers={"x-request-id": "req-a"})
    [access] = logs.access()
    assert access["event"] == "request" and access["level"] == "info"
    assert access["method"] == "POST"
    assert access["route"] == "/orgs/{org}/documents"
    assert access["path"] == "/orgs/acme/documents"
    assert access["status"] == 200
    assert access["bytes"] == len(b'{"doc":"d-1"}')
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert (access["request_id"], access["user_id"], access["org_id"]) == ("req-a", "user-7", "org-3")
    assert access.keys() >= FIELDS


def test_lines_outside_a_request_have_null_ids() -> None:
    logs = LogCapture()
    configure_logging(Settings(), stream=logs.stream)
    glowops.get_logger("worker").info("tick")
    [line] = logs.lines()
    assert (line["request_id"], line["user_id"], line["org_id"]) == (None, None, None)
    assert line["logger"] == "worker"


def test_exceptions_are_structured_tracebacks() -> None:
    logs = LogCapture()
    configure_logging(Settings(), stream=logs.stream)

    def fail() -> None:
        secret_local = "s3cr3t-local-value"  # noqa: F841 (locals must not be logged)
        raise KeyError("missing")

    try:
        fail()
    except KeyError:
        glowops.get_logger("x").exception("lookup_failed")
        logging.getLogger("stdlib.x").exception("stdlib_failed")
    structured, stdlib = logs.lines()
    for line in (structured, stdlib):
        assert line["level"] == "error"
        [exc] = line["exception"]
        assert exc["exc_type"] == "KeyError"
        assert any(frame["name"] == "fail" for frame in exc["frames"])
    assert "s3cr3t-local-value" not in logs.text


def test_bytes_and_odd_values_render() -> None:
    logs = LogCapture()
    configure_logging(Settings(), stream=logs.stream)
    glowops.get_logger("x").info("odd", raw=b"bytes\xff", items={3}, obj=object())
    [line] = logs.lines()
    assert line["raw"].startswith("bytes") and line["items"] == [3] and "object" in line["obj"]


def test_level_filter_and_counter() -> None:
    from prometheus_client import REGISTRY

    logs = LogCapture()
    configure_logging(Settings(log_level="WARNING"), stream=logs.stream)
    before = REGISTRY.get_sample_value("glowops_log_events_total", {"level": "warning"}) or 0
    log = glowops.get_logger("x")
    log.info("hidden")
    logging.getLogger("lib").info("hidden too")
    log.warning("shown")
    logging.getLogger("lib").error("shown too")
    assert [line["event"] for line in logs.lines()] == ["shown", "shown too"]
    assert REGISTRY.get_sample_value("glowops_log_events_total", {"level": "warning"}) == before + 1


def test_uvicorn_loggers_are_rerouted_and_its_access_log_silenced() -> None:
    logs = LogCapture()
    uvicorn_error = logging.getLogger("uvicorn.error")
    # What uvicorn's dictConfig does with --log-level info (an earlier in-process server of the
    # suite may have left another level on this process-wide logger).
    uvicorn_error.addHandler(logging.StreamHandler(sys.stderr))
    uvicorn_error.propagate = False
    uvicorn_error.setLevel(logging.INFO)
    configure_logging(Settings(), stream=logs.stream)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    [line] = logs.lines()
    assert line["event"] == "Started server process" and line["logger"] == "uvicorn.error"


def test_console_format_is_for_humans() -> None:
    logs = LogCapture()
    configure_logging(Settings(log_format="console"), stream=logs.stream)
    glowops.get_logger("x").info("hello_console", answer=42)
    text = logs.text
    assert "hello_console" in text and "answer" in text and "42" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_redaction_policy_applies_to_log_lines() -> None:
    pytest.importorskip("glowops.redaction")
    logs = LogCapture()
    configure_logging(Settings(), stream=logs.stream)
    glowops.get_logger("x").info("login", password="hunter2-pass", note="mail me at jane.doe@example.com")
    logging.getLogger("lib").warning("token=abcd1234efgh5678 for jane.doe@example.com")
    assert "hunter2-pass" not in logs.text
    assert "jane.doe@example.com" not in logs.text
    assert "***REDACTED***" in logs.text


def test_real_stdout_of_a_process_is_one_json_object_per_line() -> None:
    """The default stream (stdout through its file descriptor), as a container would see it."""
    script = textwrap.dedent("""
        import logging, sys
        import glowops
        from glowops.settings import Settings
        from glowops.telemetry.logging import configure_logging
        print("plain print before", flush=True)
        configure_logging(Settings())
        log = glowops.get_logger("proc")
        for i in range(200):
            log.info("line", i=i, text="quote \\" newline \\n tab \\t unicode \\u2603")
            logging.getLogger("sqlalchemy").info("sql %d", i)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "plain print before"
    parsed = [json.loads(line) for line in lines[1:]]
    assert len(parsed) == 400
    assert parsed[0]["text"] == 'quote " newline \n tab \t unicode \u2603'
    assert {p["logger"] for p in parsed} == {"proc", "sqlalchemy"}


def test_a_dead_log_stream_never_fails_the_caller(tmp_path: Any) -> None:
    """A closed stream (a test runner's captured stdout, a closed pipe) or a full disk loses the
    line, counted, and whoever logged goes on."""
    import io
    import os

    from glowops.telemetry import logging as glowops_logging

    closed = io.StringIO()
    configure_logging(Settings(), stream=closed)
    closed.close()
    structlog.get_logger("t").info("into a closed stream")
    logging.getLogger("t").warning("and through the stdlib")
    assert glowops_logging._pipeline is not None
    assert glowops_logging._pipeline.sink.dropped == 2

    with open(os.devnull, "w") as devnull:  # an fd-backed stream whose descriptor then dies
        configure_logging(Settings(), stream=devnull)
    structlog.get_logger("t").info("into a closed descriptor")
    assert glowops_logging._pipeline.sink.dropped == 1
    configure_logging(Settings(), stream=io.StringIO())
