"""Soak: N minutes of mixed gateway traffic at a fixed rate; is memory flat, is nothing lost?

The gateway runs as ``prisma-glow-gateway serve`` in a child process (SQLite under a temporary
state dir, JSON logs to a file). A client sends a fixed mix at ``--rps`` (log-ins, a wrong
password, ``/auth/me``, document lists and uploads, pending approvals, an unknown route) and
every second reads the server's RSS. At the end it checks:

- the RSS floor (minimum per minute): growth over the second half must stay under 2 %;
- one access line per request sent (0 lost lines);
- ``http_requests_total`` on ``/metrics`` equals the requests sent (the counter is exact).

``--tracemalloc`` runs the server with ``PYTHONTRACEMALLOC`` and makes it print the 15 largest
allocation growths between the middle and the end of the run (what grows, by source line).

Run: ``python -m bench.soak --minutes 10 --rps 95`` (the note's figures) or ``--minutes 2`` for
a quick look. Results go to stdout; docs/benchmarks.md keeps the measured ones.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

PASSWORD = "soak password 123"
# (weight, kind): the mix of one round; every kind is one request.
MIX = (
    (30, "documents"),
    (20, "me"),
    (15, "pending"),
    (10, "upload"),
    (8, "login"),
    (5, "bad_login"),
    (5, "not_found"),
    (7, "health"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def floors_per_minute(samples: list[tuple[float, int]]) -> list[int]:
    """The minimum RSS of each whole minute of samples ``(seconds since start, rss)``."""
    by_minute: dict[int, int] = {}
    for at, rss in samples:
        minute = int(at // 60)
        by_minute[minute] = min(rss, by_minute.get(minute, rss))
    return [by_minute[m] for m in sorted(by_minute)]


def half_growth(floors: list[int]) -> float:
    """Relative growth of the RSS floor from the middle minute to the last one."""
    if len(floors) < 2:
        return 0.0
    middle = floors[len(floors) // 2 - (1 if len(floors) % 2 == 0 else 0)]
    return (floors[-1] - middle) / middle


class Soak:
    def __init__(self, base: str, rps: float) -> None:
        self.base = base
        self.rps = rps
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.tokens: list[str] = []
        self.errors: dict[str, int] = {}

    async def setup(self, client: httpx.AsyncClient) -> None:
        users = [{"email": f"u{i}@soak.example", "password": PASSWORD, "role": "admin"} for i in range(4)]
        body = {"orgs": [{"slug": "soak", "name": "Soak", "users": users}]}
        response = await client.post("/admin/bootstrap", json=body)
        response.raise_for_status()
        self.sent += 1
        for user in users:
            await self.login(client, user["email"])

    async def login(self, client: httpx.AsyncClient, email: str) -> None:
        response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        self.sent += 1
        if response.status_code == 200:
            self.tokens.append(response.json()["access_token"])
            del self.tokens[:-8]  # keep a few current tokens, like clients renewing theirs

    async def one(self, client: httpx.AsyncClient, kind: str, n: int) -> None:
        try:
            await self._one(client, kind, n)
        except httpx.HTTPError as err:  # counted, not fatal: the report says how many
            self.sent += 1
            name = type(err).__name__
            self.errors[name] = self.errors.get(name, 0) + 1

    async def _one(self, client: httpx.AsyncClient, kind: str, n: int) -> None:
        auth = {"Authorization": f"Bearer {self.tokens[n % len(self.tokens)]}"}
        if kind == "login":
            await self.login(client, f"u{n % 4}@soak.example")
            return
        if kind == "bad_login":
            response = await client.post(
                "/auth/login", json={"email": f"x{n}@soak.example", "password": "no"}
            )
        elif kind == "documents":
            response = await client.get("/documents", headers=auth)
        elif kind == "me":
            response = await client.get("/auth/me", headers=auth)
        elif kind == "pending":
            response = await client.get("/approvals/pending", headers=auth)
        elif kind == "upload":
            files = {"file": (f"note-{n}.txt", f"Invoice {n} total {n % 997} EUR".encode(), "text/plain")}
            response = await client.post("/documents", headers=auth, files=files)
        elif kind == "not_found":
            response = await client.get(f"/no/such/{n % 5}")
        else:
            response = await client.get("/health/live")
        self.sent += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1

    async def run(self, seconds: float, pid: int, at_half: Any = None) -> list[tuple[float, int]]:
        kinds = [kind for weight, kind in MIX for _ in range(weight)]
        samples: list[tuple[float, int]] = []
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=self.base, timeout=30.0, limits=limits) as client:
            await self.setup(client)
            start = time.monotonic()
            next_sample = start
            pending: set[asyncio.Task[None]] = set()
            for n in itertools.count():
                now = time.monotonic()
                if now - start >= seconds:
                    break
                if at_half is not None and now - start >= seconds / 2:
                    at_half()
                    at_half = None
                if now >= next_sample:
                    samples.append((now - start, rss_bytes(pid)))
                    next_sample += 1.0
                task = asyncio.create_task(self.one(client, kinds[n % len(kinds)], n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                # fixed rate: the n-th request starts at start + n / rps, whatever the answers do
                await asyncio.sleep(max(0.0, start + (n + 1) / self.rps - time.monotonic()))
            if pending:
                await asyncio.gather(*pending)
        return samples


def _metric_total(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("http_requests_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=95.0)
    parser.add_argument("--tracemalloc", action="store_true", help="Print what grows (slower server).")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="glowops-soak-"))
    port = _free_port()
    env = {
        **os.environ,
        "GLOWOPS_STATE_DIR": str(work / "var"),
        "GLOWOPS_PORT": str(port),
        "GLOWOPS_LOG_FORMAT": "json",
        "GLOWOPS_RATE_LIMIT_PER_MINUTE": "100000",
        "GLOWOPS_EMBEDDED_ALERTING": "false",
        "GLOWOPS_CONSOLE": "false",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "GLOWOPS_OPS_TOKEN", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    if args.tracemalloc:
        env["PYTHONTRACEMALLOC"] = "1"
        env["GLOWOPS_SOAK_TRACEMALLOC"] = str(work / "snapshot")
    gateway = Path(sys.executable).with_name("prisma-glow-gateway")
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        command = [str(gateway), "serve"]
        if args.tracemalloc:
            command = [sys.executable, "-c", _TRACEMALLOC_SERVER]
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the gateway did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        soak = Soak(base, args.rps)
        cpu_before = _cpu_seconds(server.pid)
        baseline = (lambda: os.kill(server.pid, signal.SIGUSR1)) if args.tracemalloc else None
        samples = asyncio.run(soak.run(args.minutes * 60, server.pid, baseline))
        cpu = _cpu_seconds(server.pid) - cpu_before
        metrics = httpx.get(base + "/metrics", timeout=10).text
        counted = _metric_total(metrics)
        if args.tracemalloc:
            os.kill(server.pid, signal.SIGUSR1)  # the end snapshot and the comparison
            time.sleep(5)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    access = sum(
        1
        for line in log_path.read_text(errors="replace").splitlines()
        if line.startswith("{") and orjson.loads(line).get("logger") == "glowops.access"
    )
    floors = floors_per_minute(samples)
    growth = half_growth(floors)
    # the /metrics scrape itself is not yet counted when it answers; the health probes of the
    # start-up wait are counted but not sent by the soak
    warmup = sum(1 for line in log_path.read_text(errors="replace").splitlines() if '"/health/live"' in line)
    print(
        f"soak: {args.minutes:g} min at {args.rps:g} req/s, {soak.sent} requests sent, "
        f"statuses {soak.statuses}, client errors {soak.errors}"
    )
    print(f"server CPU: {cpu:.1f} s over {args.minutes * 60:.0f} s wall")
    print("RSS floor per minute (MiB): " + ", ".join(f"{f / 2**20:.1f}" for f in floors))
    print(f"RSS floor growth over the second half: {growth * 100:+.2f} % (goal < 2 %)")
    print(f"access lines: {access} for {soak.sent} requests sent (+ start-up probes and the scrape)")
    print(f"http_requests_total: {counted:.0f}; start-up probes and scrape included: {warmup}")
    if args.tracemalloc:
        print((work / "snapshot.top").read_text() if (work / "snapshot.top").exists() else "no snapshot")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# The server with a SIGUSR1 handler: the first signal takes the baseline snapshot, the second
# writes the top growths since then to <GLOWOPS_SOAK_TRACEMALLOC>.top.
_TRACEMALLOC_SERVER = """
import os, signal, tracemalloc
from pathlib import Path
state = {}
def on_signal(signum, frame):
    snap = tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
    if 'base' not in state:
        state['base'] = snap
        return
    top = snap.compare_to(state['base'], 'lineno')[:15]
    Path(os.environ['GLOWOPS_SOAK_TRACEMALLOC'] + '.top').write_text('\\n'.join(str(s) for s in top))
signal.signal(signal.SIGUSR1, on_signal)
import sys
sys.argv = ['prisma-glow-gateway', 'serve']
from prisma_glow_gateway.cli import main
main()
"""


if __name__ == "__main__":
    main()
