"""µs per request in-process (the ASGI app called directly, no HTTP), three stacks, one run.

- bare: FastAPI, one route with a path parameter.
- glowops: the same app with ``glowops.instrument`` (request IDs, context, JSON access line
  with redaction, RED metrics, /metrics), logs to /dev/null.
- usual: asgi-correlation-id + prometheus-fastapi-instrumentator + a structlog access-log
  BaseHTTPMiddleware (JSON to /dev/null).

Rounds are interleaved (bare, glowops, usual, bare, ...) and the median of the rounds is
reported, so drift of the machine hits every stack alike; each figure is given as wall time and
as CPU time of the process (all threads), which other processes' load moves much less.
Run: ``python -m bench.bench_http``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from fastapi import FastAPI

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_devnull = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def glowops_app() -> FastAPI:
    import glowops
    from glowops.settings import Settings

    app = bare_app()
    glowops.instrument(app, Settings(), log_stream=_devnull, tracer=False, error_reporter=False, health=False)
    return app


def usual_app() -> FastAPI:
    from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import Instrumentator
    from starlette.middleware.base import BaseHTTPMiddleware

    app = bare_app()
    access = structlog.wrap_logger(
        structlog.BytesLogger(_devnull.buffer),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
    )

    async def access_log(request: Any, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        access.info(
            "request",
            method=request.method,
            path=request.url.path,
            route=getattr(route, "path", None),
            status=response.status_code,
            duration_ms=(time.perf_counter() - started) * 1000,
            request_id=correlation_id.get(),
        )
        return response

    app.add_middleware(BaseHTTPMiddleware, dispatch=access_log)
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    app.add_middleware(CorrelationIdMiddleware)
    return app


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1"), (b"accept", b"*/*")],
    }


async def _time(app: ASGIApp, requests: int) -> float:
    """µs per request over ``requests`` sequential calls."""
    template = _scope("/items/42")
    body = {"type": "http.request", "body": b"", "more_body": False}
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(template), receive, send)
    elapsed = time.perf_counter() - started
    if set(status) != {200}:
        raise RuntimeError(f"benchmark app answered {set(status)}")
    return elapsed / requests * 1e6


def run(rounds: int, requests: int) -> dict[str, tuple[float, float]]:
    """Median (wall µs/request, CPU µs/request) of each stack over interleaved rounds.

    CPU time is the process's (``time.process_time``: every thread), so load from other processes
    on a shared machine moves it much less than the wall-clock figure.
    """
    apps: dict[str, ASGIApp] = {"bare": bare_app(), "glowops": glowops_app(), "usual": usual_app()}
    walls: dict[str, list[float]] = {name: [] for name in apps}
    cpus: dict[str, list[float]] = {name: [] for name in apps}

    async def go() -> None:
        for app in apps.values():  # warm up: builds middleware stacks, fills caches
            await _time(app, 200)
        for _ in range(rounds):
            for name, app in apps.items():
                cpu = time.process_time()
                walls[name].append(await _time(app, requests))
                cpus[name].append((time.process_time() - cpu) / requests * 1e6)

    asyncio.run(go())
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in apps}


def print_table(medians: dict[str, tuple[float, float]], rounds: int, requests: int, width: int = 10) -> None:
    """Wall and CPU µs/request, each with its ratio to the first row (bare)."""
    wall0, cpu0 = next(iter(medians.values()))
    print(
        f"{'stack':<{width}}{'µs wall':>10}{'x bare':>8}{'µs CPU':>10}{'x bare':>8}"
        f"   (median of {rounds} interleaved rounds x {requests} requests)"
    )
    for name, (wall, cpu) in medians.items():
        print(f"{name:<{width}}{wall:>10.1f}{wall / wall0:>7.2f}x{cpu:>10.1f}{cpu / cpu0:>7.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args(argv)
    print_table(run(args.rounds, args.requests), args.rounds, args.requests)


if __name__ == "__main__":
    main()
