"""``glowops monitor``: a synthetic monitor probing the health endpoints at the spec's frequencies.

Each target has its own interval (``/health`` 30 s, ``/health/db`` 60 s,
``/health/dependencies`` 120 s by default). Every probe is logged as one JSON line and sets
``glowops_probe_success{target}`` and ``glowops_probe_duration_seconds{target}``, which the
monitor can serve on its own metrics port like a blackbox exporter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import orjson

from glowops.health.model import utc_now
from glowops.health.probe import ProbeResult, probe_async
from glowops.telemetry.metrics import metrics


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to probe and how often."""

    name: str
    path: str
    interval: float


def spec_targets(health: float, db: float, dependencies: float) -> list[Target]:
    return [
        Target("health", "/health", health),
        Target("db", "/health/db", db),
        Target("dependencies", "/health/dependencies", dependencies),
    ]


def record(result: ProbeResult) -> None:
    """Set the probe metrics of one result."""
    tags = {"target": result.target}
    metrics.gauge("glowops_probe_success", 1.0 if result.success else 0.0, tags=tags)
    metrics.gauge("glowops_probe_duration_seconds", result.duration_seconds, tags=tags)


def log_line(result: ProbeResult) -> str:
    return orjson.dumps({"timestamp": utc_now().isoformat(), **result.log_record()}).decode()


async def run_monitor(
    base_url: str,
    targets: list[Target],
    *,
    token: str | None,
    probe_timeout: float,
    iterations: int | None,
    emit: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    client: httpx.AsyncClient | None = None,
) -> list[ProbeResult]:
    """Probe until ``iterations`` rounds have run (forever when None); returns the last round.

    A round is one wake-up: every target that is due is probed, concurrently. All targets are
    due in the first round. ``clock`` and ``sleep`` are the schedule's time (tests drive a
    virtual one); ``client`` defaults to a new HTTP client with ``probe_timeout``.
    """
    if not targets:
        raise ValueError("nothing to monitor")
    if client is None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(probe_timeout), follow_redirects=False) as own:
            return await run_monitor(
                base_url,
                targets,
                token=token,
                probe_timeout=probe_timeout,
                iterations=iterations,
                emit=emit,
                clock=clock,
                sleep=sleep,
                client=own,
            )
    start = clock()
    due = {t.name: start for t in targets}
    rounds = 0
    last: list[ProbeResult] = []
    while iterations is None or rounds < iterations:
        now = clock()
        ready = [t for t in targets if due[t.name] <= now]
        if not ready:  # the event loop may wake a sleeper a clock tick early: not a round
            await sleep(max(0.001, min(due.values()) - now))
            continue
        last = list(
            await asyncio.gather(*(probe_async(client, t.name, base_url + t.path, token) for t in ready))
        )
        for target, result in zip(ready, last, strict=True):
            record(result)
            emit(log_line(result))
            # Keep the cadence; after a stall, resume from now rather than firing a backlog.
            following = due[target.name] + target.interval
            due[target.name] = following if following > now else now + target.interval
        rounds += 1
        if iterations is not None and rounds >= iterations:
            break
        await sleep(max(0.0, min(due.values()) - clock()))
    return last
