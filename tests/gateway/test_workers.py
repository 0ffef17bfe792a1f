"""``prisma-glow-gateway serve --workers 2``: the real service, two uvicorn worker processes, one port.

What a user of several workers relies on, checked on the running service:

* /metrics of any worker counts the requests of all of them, and keeps a dead worker's
  counts while its live gauges go (the supervisor marks it dead, uvicorn replaces it);
* exactly one worker runs the embedded alert engine and the backup schedule;
* the console of every worker shows the leader's samples (which sum every worker's requests);
* request IDs are unique across workers;
* each worker set up tracing itself: spans arrive from both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from errors.sentry_server import SentryServer
from peers import free_port
from tracing.otlp_receiver import OTLPReceiver

GATEWAY = str(Path(sys.executable).with_name("prisma-glow-gateway"))
TOKEN = "workers-test-ops-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T = TypeVar("T")


def poll(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """``probe()`` once it returns something truthy (bounded; fails naming ``what``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Served:
    url: str
    state: Path
    log: Path
    server: subprocess.Popen[bytes]
    otlp: OTLPReceiver
    sentry: SentryServer

    @property
    def multiproc(self) -> Path:
        return self.state / "prometheus-multiproc"

    def worker_pids(self) -> set[int]:
        """The server's child processes that serve (uvicorn spawns its workers)."""
        children: set[int] = set()
        for task in Path(f"/proc/{self.server.pid}/task").glob("*"):
            with_children = task / "children"
            if with_children.exists():
                children |= {int(pid) for pid in with_children.read_text().split()}
        return {pid for pid in children if b"spawn_main" in _cmdline(pid)}

    def leader_pid(self) -> int:
        return int((self.state / "alerting.db.lock").read_text().strip())

    def log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def worker_of(response: httpx.Response) -> str:
    """Request IDs start with 16 hex digits drawn once per process: they name the worker."""
    return response.headers["x-request-id"][:16]


def fresh_get(url: str, **kwargs: object) -> httpx.Response:
    """One GET on its own connection (the kernel hands each new connection to either worker)."""
    with httpx.Client(timeout=10) as client:
        return client.get(url, **kwargs)  # type: ignore[arg-type]


def spread(url: str, count: int, **kwargs: object) -> list[httpx.Response]:
    """``count`` GETs, eight at a time, each on a new connection."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: fresh_get(url, **kwargs), range(count)))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("workers")
    otlp = OTLPReceiver().start()
    sentry = SentryServer().start()
    port = free_port()
    state = tmp / "var"
    env = {
        **os.environ,
        "GLOWOPS_STATE_DIR": str(state),
        "GLOWOPS_PORT": str(port),
        "GLOWOPS_OPS_TOKEN": TOKEN,
        "GLOWOPS_DIAGNOSTICS": "1",
        "GLOWOPS_SCRAPE_INTERVAL_SECONDS": "1",
        "GLOWOPS_EVALUATION_INTERVAL_SECONDS": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "SENTRY_DSN": sentry.dsn,
        "GLOWOPS_LOG_LEVEL": "INFO",
    }
    for name in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "GLOWOPS_WORKERS"):
        env.pop(name, None)
    log = tmp / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [GATEWAY, "serve", "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    served = Served(f"http://127.0.0.1:{port}", state, log, server, otlp, sentry)
    try:

        def both_ready() -> bool:
            if server.poll() is not None:
                pytest.fail("serve --workers 2 exited: " + log.read_text()[-3000:])
            try:
                return (
                    fresh_get(served.url + "/health/live").status_code == 200
                    and len(served.worker_pids()) == 2
                )
            except httpx.HTTPError:
                return False

        poll("two workers serving", both_ready, timeout=300)
        yield served
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        finally:
            otlp.stop()
            sentry.stop()


def requests_counted(served: Served) -> float:
    body = fresh_get(served.url + "/metrics", headers=AUTH).text
    line = next(
        (
            ln
            for ln in body.splitlines()
            if ln.startswith('http_requests_total{method="GET",route="/",status="200"}')
        ),
        None,
    )
    return float(line.rsplit(" ", 1)[1]) if line else 0.0


@pytest.mark.slow
def test_two_workers_share_the_port_with_one_leader(served: Served) -> None:
    answers: list[httpx.Response] = []

    def both_workers_answered() -> bool:
        answers.extend(spread(served.url + "/", 40))
        return len({worker_of(r) for r in answers}) == 2

    poll("answers from both workers", both_workers_answered)
    sent = len(answers)
    assert all(r.status_code == 200 for r in answers)
    ids = [r.headers["x-request-id"] for r in answers]
    assert len(set(ids)) == len(ids), "request IDs repeat across workers"

    # /metrics of whichever worker answers sums both workers' requests
    for _ in range(6):
        assert requests_counted(served) == sent

    # one engine, one backup schedule, in the worker holding the lock
    assert served.leader_pid() in served.worker_pids()
    assert served.log_count("this process leads and runs the engine") == 1
    assert served.log_count("backup schedule: this process leads") == 1

    # the console of both workers shows the leader's samples, which sum both workers' requests
    def console_total() -> set[str] | None:
        now = time.time()
        params = {
            "expr": 'sum(http_requests_total{route="/"})',
            "start": str(now - 30),
            "end": str(now),
            "step": "1",
        }
        seen: set[str] = set()
        for response in spread(served.url + "/ops/api/query_range", 16, params=params, headers=AUTH):
            assert response.status_code == 200, response.text
            values = [v for s in response.json()["series"] for v in s["values"] if v is not None]
            if values and max(values) == sent:
                seen.add(worker_of(response))
        return seen if len(seen) == 2 else None

    poll("the console of both workers showing every request", console_total)

    # each worker traces itself (set up after the worker started)
    pids = served.worker_pids()
    served.otlp.wait_for(
        lambda spans: {s.resource.get("process.pid") for s in spans if s.name == "GET /"} >= pids, timeout=30
    )


@pytest.mark.slow
def test_a_dead_worker_is_replaced_and_marked(served: Served) -> None:
    before = requests_counted(served)
    spread(served.url + "/", 20)
    leader = served.leader_pid()
    follower = next(pid for pid in served.worker_pids() if pid != leader)
    assert list(served.multiproc.glob(f"gauge_live*_{follower}.db")), "no live gauge files to drop"

    os.kill(follower, signal.SIGKILL)
    poll(
        "the dead worker's live gauges dropped",
        lambda: not list(served.multiproc.glob(f"gauge_live*_{follower}.db")),
    )
    assert (served.multiproc / f"counter_{follower}.db").exists()  # its counts stay
    poll("a replacement worker", lambda: len(served.worker_pids() - {follower}) == 2)
    assert requests_counted(served) == before + 20
    assert served.leader_pid() == leader
    assert served.log_count("this process leads and runs the engine") == 1
