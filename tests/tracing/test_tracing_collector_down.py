"""A dead or hanging collector never blocks or fails a request; dropped spans are counted.

What a request costs with tracing on is measured in bench/, not here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from otlp_receiver import OTLPReceiver
from prometheus_client import REGISTRY
from tracing_helpers import Traced

from peers import free_port

pytestmark = pytest.mark.anyio

REQUESTS = 60


def dropped() -> float:
    return REGISTRY.get_sample_value("glowops_spans_dropped_total") or 0.0


@pytest.fixture
def hanging_receiver() -> Iterator[OTLPReceiver]:
    server = OTLPReceiver(mode="hang").start()
    yield server
    server.stop()


def ping_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


async def run_requests(traced: Traced) -> None:
    async with traced.client() as client:
        for _ in range(REQUESTS):
            response = await client.get("/ping")
            assert response.status_code == 200


@pytest.mark.parametrize("collector", ["closed port", "hangs", "answers 503"])
async def test_requests_unaffected_and_drops_counted(
    collector: str, traced_app: Callable[..., Traced], hanging_receiver: OTLPReceiver
) -> None:
    export_timeout = 0.5
    if collector == "closed port":
        endpoint = f"http://127.0.0.1:{free_port()}"
    else:
        hanging_receiver.mode = "hang" if collector == "hangs" else "error"
        endpoint = hanging_receiver.endpoint
        if collector == "hangs":
            # The export thread stays stuck on a batch for the rest of the run: had requests
            # waited on exports, 60 of them would outlast the test's timeout.
            export_timeout = 60.0
    traced = traced_app(
        ping_app(), endpoint, otel_max_queue_size=4, otel_export_timeout_seconds=export_timeout
    )
    before = dropped()

    await run_requests(traced)

    # At most a queue and a batch in flight (4 + 4) can still be waiting; the rest were dropped.
    deadline = time.monotonic() + 60
    while dropped() - before < REQUESTS - 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dropped() - before >= REQUESTS - 8
    warnings = [line for line in traced.log_lines() if line["event"].startswith("spans dropped")]
    assert len(warnings) == 1, warnings  # one warning, not one per span
    assert warnings[0]["level"] == "warning"
