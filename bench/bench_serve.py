"""Requests per second over HTTP: each stack served by uvicorn, driven by a load generator.

Stacks (``bench.serve_apps``, same venv, same uvicorn): bare FastAPI; the usual stack
(asgi-correlation-id + prometheus-fastapi-instrumentator + structlog access line +
OpenTelemetry's FastAPI instrumentation, spans over OTLP/HTTP); glowops core (no tracing, no
Sentry); glowops full (every span over its OTLP/HTTP exporter, Sentry on). The OTLP collector
and the Sentry endpoint are local servers in this process that accept and drop what they get.

Every stack runs at 1 and 2 workers (``glowops.workers.serve_workers``: uvicorn's supervisor, one
shared socket), all started before the first round. Rounds are interleaved (every stack and
worker count once per round) and the median over rounds is printed, with the CPU time the
server's workers spent per request (``/proc``: user + system, all threads, so the span export
thread counts) next to the wall-clock figures.

Load: ``wrk -t2 -c32 -d<seconds>s --latency`` when wrk is installed (Debian: ``apt-get install
wrk``), else a bounded Python client (32 keep-alive connections on asyncio; it shares the cores
with the server and tops out lower, so compare ratios, not absolute figures).

Run: ``python -m bench.bench_serve [--rounds 3] [--seconds 5] [--stacks bare,usual,core,full]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STACKS = ("bare", "usual", "core", "full")
PATH = "/items/42"
_TICK = os.sysconf("SC_CLK_TCK")


class _Sink(BaseHTTPRequestHandler):
    """Accepts an OTLP export or a Sentry envelope and drops it."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def sink() -> Iterator[str]:
    """A local endpoint (``http://127.0.0.1:<port>``) for the collector and Sentry."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One stack at one worker count, served in a child process."""

    stack: str
    workers: int
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def worker_pids(self) -> list[int]:
        if self.workers == 1:
            return [self.process.pid]
        children: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            path = task / "children"
            if path.exists():
                children += [int(pid) for pid in path.read_text().split()]
        return [pid for pid in children if b"spawn_main" in _read(Path(f"/proc/{pid}/cmdline"))]

    def cpu_seconds(self) -> float:
        """User + system time of the serving processes so far (every thread)."""
        total = 0
        for pid in self.worker_pids():
            stat = _read(Path(f"/proc/{pid}/stat")).decode()
            fields = stat[stat.rfind(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / _TICK


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def start(stack: str, workers: int, env: dict[str, str], state: Path) -> Server:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "bench.bench_serve",
        "--serve",
        stack,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--state",
        str(state / f"{stack}-{workers}"),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Server(stack, workers, port, process)


def wait_ready(server: Server, timeout: float = 300.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.stack} x{server.workers} exited with {server.process.returncode}")
        try:
            if (
                httpx.get(server.url, timeout=2).status_code == 200
                and len(server.worker_pids()) == server.workers
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{server.stack} x{server.workers} did not start in {timeout:.0f} s")


@dataclass
class Round:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us: float = 0.0  # server CPU per request


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: float) -> Round:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses under load")
    return Round(rps, p50, p99, total)


def python_load(url: str, seconds: float, connections: int = 32) -> Round:
    """A bounded keep-alive HTTP/1.1 client: ``connections`` loops, each one request at a time."""
    host, port = "127.0.0.1", int(url.split(":")[2].split("/")[0])
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []

    async def loop(deadline: float) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{url}: {head.splitlines()[0]!r}")
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    async def go() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(loop(started + seconds) for _ in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(go())
    ordered = sorted(latencies)
    return Round(
        len(ordered) / elapsed,
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        len(ordered),
    )


@dataclass
class Figures:
    rounds: list[Round] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(r, name) for r in self.rounds)


def measure(server: Server, seconds: float, use_wrk: bool) -> Round:
    cpu_before = server.cpu_seconds()
    result = wrk(server.url, seconds) if use_wrk else python_load(server.url, seconds)
    cpu = server.cpu_seconds() - cpu_before
    result.cpu_us = cpu / max(result.requests, 1) * 1e6
    return result


def run(stacks: list[str], workers: list[int], rounds: int, seconds: float) -> dict[tuple[str, int], Figures]:
    use_wrk = shutil.which("wrk") is not None
    print(
        f"load generator: {'wrk -t2 -c32' if use_wrk else 'Python client, 32 connections'}; "
        f"{rounds} interleaved rounds of {seconds:g} s; cores: {os.cpu_count()}"
    )
    results: dict[tuple[str, int], Figures] = {(s, w): Figures() for w in workers for s in stacks}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, sink() as endpoint:
        env = {
            **os.environ,
            "BENCH_OTLP_ENDPOINT": endpoint,
            "BENCH_SENTRY_DSN": endpoint.replace("http://", "http://benchkey@") + "/1",
            "GLOWOPS_LOG_LEVEL": "WARNING",
        }
        for name in (
            "PROMETHEUS_MULTIPROC_DIR",
            "GLOWOPS_WORKERS",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "SENTRY_DSN",
        ):
            env.pop(name, None)
        servers = [start(s, w, env, Path(tmp)) for w in workers for s in stacks]
        try:
            for server in servers:
                wait_ready(server)
            for server in servers:  # warm-up: imports on first use, caches, connection pools
                measure(server, 1.0, use_wrk)
            for number in range(1, rounds + 1):
                for server in servers:
                    results[(server.stack, server.workers)].rounds.append(measure(server, seconds, use_wrk))
                print(f"  round {number}/{rounds} done", file=sys.stderr)
        finally:
            for server in servers:
                server.process.terminate()
            for server in servers:
                try:
                    server.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.process.kill()
    return results


def report(results: dict[tuple[str, int], Figures], workers: list[int]) -> None:
    print(
        f"{'stack':<7}{'workers':>8}{'req/s':>9}{'% bare':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'p99/bare':>9}{'CPU µs/req':>11}{'x1 worker':>10}"
    )
    for (stack, count), figures in results.items():
        bare = results.get(("bare", count))
        rps, p99 = figures.median("rps"), figures.median("p99_ms")
        share = f"{rps / bare.median('rps') * 100:7.0f}%" if bare else "      -"
        p99_ratio = f"{p99 / bare.median('p99_ms'):8.2f}x" if bare else "        -"
        one = results.get((stack, 1))
        scale = f"{rps / one.median('rps'):9.2f}x" if one and count != 1 else "         -"
        print(
            f"{stack:<7}{count:>8}{rps:>9.0f}{share}{figures.median('p50_ms'):>8.1f}{p99:>8.1f}"
            f"{p99_ratio}{figures.median('cpu_us'):>11.0f}{scale}"
        )


def _serve(stack: str, port: int, workers: int, state: str) -> None:
    """The child process: serve ``bench.serve_apps:<stack>`` with ``workers`` workers."""
    from glowops.settings import Settings
    from glowops.workers import serve_workers

    os.environ["GLOWOPS_STATE_DIR"] = state
    settings = Settings(host="127.0.0.1", port=port, workers=workers, state_dir=Path(state))
    serve_workers(f"bench.serve_apps:{stack}", settings, factory=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stacks", default=",".join(STACKS))
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--serve", choices=STACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    if args.serve:
        _serve(args.serve, args.port, counts[0], args.state)
        return
    stacks = [s for s in args.stacks.split(",") if s]
    unknown = set(stacks) - set(STACKS)
    if unknown:
        parser.error(f"unknown stacks: {', '.join(sorted(unknown))} (known: {', '.join(STACKS)})")
    report(run(stacks, counts, args.rounds, args.seconds), counts)


if __name__ == "__main__":
    main()
