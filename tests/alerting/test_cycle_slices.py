"""The alert cycle shares the event loop: requests are answered while a cycle is half done, and a
cycle cut into slices gives exactly the results of one in a piece."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from embedded_helpers import Harness, receiver_settings
from fastapi import FastAPI

from glowops.slicing import Steps, drive

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def busy_registry(harness: Harness) -> None:
    """Series enough for several slices, and rules with something to say (5xx, latency)."""
    for route in range(40):
        for status in ("200", "500"):
            harness.metrics.counter(
                "http_requests",
                3 if status == "500" else 50,
                tags={"method": "GET", "route": f"/r{route}", "status": status},
            )
        harness.metrics.histogram(
            "http_request_duration_seconds", 0.9, tags={"method": "GET", "route": f"/r{route}"}
        )


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    built = Harness(receiver_settings(tmp_path, "http://127.0.0.1:9"))
    busy_registry(built)
    yield built


async def test_a_request_is_answered_while_a_cycle_waits_between_slices(harness: Harness) -> None:
    service = harness.service
    await harness.run(60)  # history, so the rules have rates to compute
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    evaluating = False
    original = service.engine.evaluate_steps

    def marked(t: int) -> Steps[Any]:
        nonlocal evaluating
        evaluating = True
        return (yield from original(t))

    service.engine.evaluate_steps = marked  # type: ignore[method-assign]
    inside, release = asyncio.Event(), asyncio.Event()

    async def pause() -> None:
        if evaluating and not inside.is_set():  # the first pause in the middle of the evaluation
            inside.set()
            await release.wait()
        await asyncio.sleep(0)

    service.pause = pause
    service.slice_seconds = 0.0  # a pause after every step
    harness.clock.now += 15
    cycle = asyncio.create_task(service.tick())
    await asyncio.wait_for(inside.wait(), timeout=60)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        response = await asyncio.wait_for(client.get("/ping"), timeout=30)
    assert response.status_code == 200 and response.json() == {"pong": "yes"}
    assert not cycle.done(), "the cycle finished before the request: nothing was shown"

    release.set()
    report = await asyncio.wait_for(cycle, timeout=60)
    assert report.evaluated and report.sampled > 0
    await harness.close()


async def test_sliced_cycles_give_the_results_of_whole_ones(tmp_path: Path) -> None:
    whole = Harness(receiver_settings(tmp_path / "whole", "http://127.0.0.1:9"))
    sliced = Harness(receiver_settings(tmp_path / "sliced", "http://127.0.0.1:9"))
    for harness in (whole, sliced):
        busy_registry(harness)
    whole.service.slice_seconds = float("inf")  # never hands the loop back: one piece
    sliced.service.slice_seconds = 0.0
    reads = 0

    async def read_between(harness: Harness = sliced) -> None:
        # what the console does between two slices: read the store
        nonlocal reads
        reads += len(harness.service.store.by_name)
        await asyncio.sleep(0)

    sliced.service.pause = read_between
    for minute in range(12):
        for harness in (whole, sliced):
            harness.metrics.counter(
                "http_requests", 7 * minute, tags={"method": "GET", "route": "/r1", "status": "500"}
            )
            harness.clock.now += 15
        await whole.service.tick()
        await sliced.service.tick()
        expected = [a.to_dict() for a in whole.service.engine.alerts()]
        assert [a.to_dict() for a in sliced.service.engine.alerts()] == expected
    assert reads > 0
    assert any(a["state"] == "firing" for a in expected), "the comparison covers firing alerts"
    for name, family in whole.service.store.by_name.items():
        other = sliced.service.store.by_name[name]
        assert other.keys() == family.keys()
        for labels, series in family.items():
            assert other[labels].values.tobytes() == series.values.tobytes(), (name, labels)
    for harness in (whole, sliced):
        await harness.close()


async def test_drive_returns_what_the_steps_return() -> None:
    def steps() -> Steps[int]:
        for _ in range(3):
            yield
        return 42

    pauses = 0

    async def count() -> None:
        nonlocal pauses
        pauses += 1

    assert await drive(steps(), budget=0.0, pause=count) == 42
    assert pauses == 3
