"""A dead or hanging collector never slows or fails a request; dropped spans are counted."""

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


async def run_requests(traced: Traced) -> list[float]:
    latencies = []
    async with traced.client() as client:
        for _ in range(REQUESTS):
            started = time.perf_counter()
            response = await client.get("/ping")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
    return latencies


@pytest.mark.parametrize("collector", ["closed port", "hangs", "answers 503"])
async def test_requests_unaffected_and_drops_counted(
    collector: str, traced_app: Callable[..., Traced], hanging_receiver: OTLPReceiver
) -> None:
    if collector == "closed port":
        endpoint = f"http://127.0.0.1:{free_port()}"
    else:
        hanging_receiver.mode = "hang" if collector == "hangs" else "error"
        endpoint = hanging_receiver.endpoint
    traced = traced_app(ping_app(), endpoint, otel_max_queue_size=4, otel_export_timeout_seconds=0.5)
    before = dropped()

    latencies = await run_requests(traced)

    # The export thread is stuck for up to 0.5 s per batch; requests only append to the queue.
    assert max(latencies) < 0.25, max(latencies)
    assert sorted(latencies)[len(latencies) // 2] < 0.02
    deadline = time.monotonic() + 5
    while dropped() - before < REQUESTS - 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    # At most a queue and a batch in flight (4 + 4) can still be waiting; the rest were dropped.
    assert dropped() - before >= REQUESTS - 8
    warnings = [line for line in traced.log_lines() if line["event"].startswith("spans dropped")]
    assert len(warnings) == 1, warnings  # one warning, not one per span
    assert warnings[0]["level"] == "warning"
