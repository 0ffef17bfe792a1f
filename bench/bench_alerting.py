"""Embedded alerting: cycle time over 10,000 series, memory per series, breach-to-notification latency.

1. Cycle: a prometheus-client registry holding ~10,000 series shaped like a busy gateway
   (HTTP histograms by route and method, request counters by status, the other catalogued
   metrics) is sampled every 15 s of simulated time for an hour; then each cycle samples it
   once more and evaluates the whole catalog (recording rules first). Reported: median and
   p95 CPU time of sample + evaluate, and the two parts separately (CPU time, because the
   machine is shared and wall time includes waiting for a core).
2. Memory: bytes of the store per series holding 24 h of 15 s samples (5,760), measured with
   tracemalloc on 500 series.
3. Latency: the service runs with its real loop and clock (evaluation interval 1 s,
   group_wait 2 s); a backup failure is recorded; the time until a local webhook receiver has
   the notification is compared with the target (evaluation interval + group_wait + 1 s).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from glowops.alerting.dispatch import Timings
from glowops.alerting.engine import RuleEngine
from glowops.alerting.rules import build_catalog
from glowops.alerting.sampler import Sampler
from glowops.alerting.service import EmbeddedAlerting
from glowops.packs import register_pack
from glowops.promql import TSDB
from glowops.settings import Settings
from glowops.telemetry.metrics import Metrics
from glowops_prismaglow import pack as prismaglow

register_pack(prismaglow)  # the gateway's catalog: glowops' rules and the Prisma Glow pack's

STEP_MS = 15_000


def busy_registry(routes: int = 250) -> tuple[CollectorRegistry, Metrics]:
    registry = CollectorRegistry()
    m = Metrics(registry, label_limit=100_000)
    for r in range(routes):
        for method in ("GET", "POST"):
            route = f"/v1/resource{r}"
            m.histogram(
                "http_request_duration_seconds", 0.05 * (r % 7), tags={"method": method, "route": route}
            )
            for status in ("200", "404", "500"):
                m.counter("http_requests", tags={"method": method, "route": route, "status": status})
        m.counter("http_rate_limited", tags={"route": f"/v1/resource{r}"})
    for org in range(300):
        m.gauge("approvals_overdue", 0, tags={"org_id": f"org-{org}"})
    return registry, m


def drive(m: Metrics, routes: int, i: int) -> None:
    """Some traffic between scrapes so the counters move."""
    for r in range(0, routes, 5):
        m.histogram(
            "http_request_duration_seconds",
            0.01 * ((i + r) % 300),
            tags={"method": "GET", "route": f"/v1/resource{r}"},
        )
        m.counter("http_requests", tags={"method": "GET", "route": f"/v1/resource{r}", "status": "200"})


def bench_cycle(routes: int = 250, warm_scrapes: int = 240, cycles: int = 30) -> dict[str, float]:
    registry, m = busy_registry(routes)
    store = TSDB()
    sampler = Sampler(registry, store, {"job": "glowops-gateway", "instance": "bench:8000"})
    engine = RuleEngine(build_catalog(packs=[prismaglow]), store)
    t = 0
    for i in range(warm_scrapes):  # one hour of history
        drive(m, routes, i)
        t += STEP_MS
        sampler.sample(t)
        if i % 4 == 0:
            engine.evaluate(t)
    series = store.series_count()
    sample_s, eval_s, total = [], [], []
    for i in range(cycles):
        drive(m, routes, warm_scrapes + i)
        t += STEP_MS
        # CPU time of this process: the figure that does not depend on what else the machine runs
        a = time.process_time()
        sampler.sample(t)
        b = time.process_time()
        engine.evaluate(t)
        c = time.process_time()
        sample_s.append(b - a)
        eval_s.append(c - b)
        total.append(c - a)
    total.sort()
    return {
        "series": series,
        "median_ms": statistics.median(total) * 1000,
        "p95_ms": total[int(len(total) * 0.95) - 1] * 1000,
        "sample_ms": statistics.median(sample_s) * 1000,
        "evaluate_ms": statistics.median(eval_s) * 1000,
    }


def bench_memory(routes: int = 10, samples: int = 5760) -> dict[str, float]:
    """24 h of 15 s scrapes of a gateway-shaped registry, persisted every minute as the engine
    does (what is persisted is sealed): memory per series (tracemalloc: everything the store
    allocates, Python objects included) and payload bytes per sample (values and timestamps)."""
    import sqlite3

    registry, m = busy_registry(routes)
    db = sqlite3.connect(":memory:", isolation_level=None)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = TSDB()
    sampler = Sampler(registry, store, {"job": "glowops-gateway", "instance": "bench:8000"})
    for k in range(samples):
        drive(m, routes, k)
        sampler.sample(k * STEP_MS)
        if k % 4 == 3:
            store.flush(db)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    series = [s for family in store.by_name.values() for s in family.values()]
    payload = sum(s.nbytes() for s in series) + sum(len(t.times) * 8 for t in store.timelines.values())
    return {
        "series": len(series),
        "kib_per_series": (after - before) / len(series) / 1024,
        "bytes_per_sample": payload / sum(s.end - s.first for s in series),
    }


class _Hook(BaseHTTPRequestHandler):
    arrived: list[float] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _Hook.arrived.append(time.time())
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


async def bench_latency(eval_interval: float = 1.0, group_wait: float = 2.0) -> dict[str, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    from prometheus_client import Gauge

    registry = CollectorRegistry()
    # the backup metrics as the backup module exports them (plain gauges)
    success = Gauge("glowops_backup_last_success_timestamp_seconds", "", registry=registry)
    failure = Gauge("glowops_backup_last_failure_timestamp_seconds", "", registry=registry)
    success.set(1000)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            state_dir=Path(tmp),
            telemetry_alert_webhook=url,
            scrape_interval_seconds=eval_interval,
            evaluation_interval_seconds=eval_interval,
        )
        service = EmbeddedAlerting(
            settings,
            registry,
            timings=Timings.uniform(group_wait, 60, 3600),
            on_outcome=lambda c, o: None,
            record_metrics=False,
        )
        await service.start()
        await asyncio.sleep(eval_interval * 2.5)
        breach = time.time()
        failure.set(2000)  # BackupFailed: for 0s, warning
        while not _Hook.arrived and time.time() - breach < 30:  # noqa: ASYNC110 - polls a thread's list
            await asyncio.sleep(0.01)
        await service.stop()
    server.shutdown()
    latency = _Hook.arrived[0] - breach if _Hook.arrived else float("inf")
    return {"latency_s": latency, "target_s": eval_interval + group_wait + 1.0}


async def _stall_round(slice_seconds: float, seconds: float, routes: int) -> list[float]:
    """Lateness (s) of small requests every 2 ms while the engine runs 15x faster than real."""
    from bench.bench_http import _scope, bare_app

    registry, m = busy_registry(routes)
    base = time.time() - 3600
    started = time.monotonic()

    def clock() -> float:  # 15 s of service time per real second: a cycle every real second
        return base + 3600 + (time.monotonic() - started) * 15

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(state_dir=Path(tmp), scrape_interval_seconds=15, evaluation_interval_seconds=15)
        service = EmbeddedAlerting(settings, registry, clock=clock, notifiers={}, record_metrics=False)
        service.slice_seconds = slice_seconds
        for i in range(240):  # one hour of history, as in bench_cycle
            drive(m, routes, i)
            service.sampler.sample(round((base + i * 15) * 1000))
        app = bare_app()
        template = _scope("/items/42")
        body = {"type": "http.request", "body": b"", "more_body": False}

        async def receive() -> dict[str, Any]:
            return body

        async def send(message: dict[str, Any]) -> None:
            return None

        late: list[float] = []
        await service.start()
        deadline = time.perf_counter() + seconds
        due = time.perf_counter()
        while due < deadline:
            due += 0.002
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await app(dict(template), receive, send)
            late.append(time.perf_counter() - due)
            due = max(due, time.perf_counter())  # no catch-up burst after a stall
        await service.stop()
    return late


def bench_stall(rounds: int = 2, seconds: float = 10.0, routes: int = 250) -> dict[str, dict[str, float]]:
    """Request lateness with the cycle in one piece vs in slices, interleaved rounds."""
    modes = {"whole": float("inf"), "sliced": 0.002}
    late: dict[str, list[float]] = {name: [] for name in modes}
    worst: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(rounds):
        for name, budget in modes.items():
            values = asyncio.run(_stall_round(budget, seconds, routes))
            late[name] += values
            worst[name].append(max(values))
    out = {}
    for name, values in late.items():
        ordered = sorted(values)
        out[name] = {
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000,
            "p999_ms": ordered[int(len(ordered) * 0.999)] * 1000,
            "max_ms": max(worst[name]) * 1000,
            "requests": len(ordered),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    cycle = bench_cycle()
    print(
        f"cycle over {cycle['series']:.0f} series: median {cycle['median_ms']:.1f} ms, "
        f"p95 {cycle['p95_ms']:.1f} ms (sample {cycle['sample_ms']:.1f} ms + evaluate "
        f"{cycle['evaluate_ms']:.1f} ms); target <= 50 ms"
    )
    memory = bench_memory()
    print(
        f"memory, 24 h of 15 s samples of {memory['series']:.0f} gateway-shaped series: "
        f"{memory['kib_per_series']:.1f} KiB per series (10,000 series: "
        f"{memory['kib_per_series'] * 10_000 / 1024:.0f} MiB), payload {memory['bytes_per_sample']:.2f} "
        f"bytes a sample; target <= 2"
    )
    for name, figures in bench_stall().items():
        print(
            f"request lateness, cycle {name} (a request every 2 ms, cycles 15x real): "
            f"p99 {figures['p99_ms']:.2f} ms, p99.9 {figures['p999_ms']:.2f} ms, "
            f"worst {figures['max_ms']:.1f} ms over {figures['requests']:.0f} requests; target worst <= 5 ms"
        )
    lat = asyncio.run(bench_latency())
    print(
        f"breach to notification: {lat['latency_s']:.2f} s (target <= {lat['target_s']:.1f} s: "
        f"evaluation interval + group_wait + 1 s)"
    )


if __name__ == "__main__":
    main()
