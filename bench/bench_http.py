"""µs per request in-process (the ASGI app called directly, no HTTP), three stacks, one run.

- bare: FastAPI, one route with a path parameter.
- glowops: the same app with ``glowops.instrument`` (request IDs, context, JSON access line
  with redaction, RED metrics, /metrics), logs to /dev/null.
- usual: asgi-correlation-id + prometheus-fastapi-instrumentator + a structlog access-log
  BaseHTTPMiddleware (JSON to /dev/null).

Rounds are interleaved (bare, glowops, usual, bare, ...) and the median of the rounds is
reported, so drift of the machine hits every stack alike. Run: ``python -m bench.bench_http``.
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


def run(rounds: int, requests: int) -> dict[str, float]:
    """Median µs/request of each stack over interleaved rounds."""
    apps: dict[str, ASGIApp] = {"bare": bare_app(), "glowops": glowops_app(), "usual": usual_app()}
    samples: dict[str, list[float]] = {name: [] for name in apps}

    async def go() -> None:
        for app in apps.values():  # warm up: builds middleware stacks, fills caches
            await _time(app, 200)
        for _ in range(rounds):
            for name, app in apps.items():
                samples[name].append(await _time(app, requests))

    asyncio.run(go())
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args(argv)
    medians = run(args.rounds, args.requests)
    bare = medians["bare"]
    print(f"{'stack':<10}{'µs/request':>12}{'x bare':>9}   ({args.rounds} rounds x {args.requests} requests)")
    for name, value in medians.items():
        print(f"{name:<10}{value:>12.1f}{value / bare:>8.2f}x")


if __name__ == "__main__":
    main()
