"""Fixtures of the telemetry tests: an instrumented app, its log lines, an ASGI client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from telemetry_helpers import LogCapture, client_for

import glowops
from glowops.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def logs() -> LogCapture:
    return LogCapture()


@pytest.fixture
def make_app(logs: LogCapture) -> Callable[..., FastAPI]:
    """Instrument a FastAPI app with settings overrides, logging into ``logs``."""

    def build(app: FastAPI | None = None, **overrides: Any) -> FastAPI:
        app = app or FastAPI()
        overrides.setdefault("service_version", "9.9.9")
        glowops.instrument(
            app,
            Settings(**overrides),
            log_stream=logs.stream,
            tracer=False,
            error_reporter=False,
            health=False,
        )
        return app

    return build


@pytest.fixture
async def client_factory() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def factory(app: Any, **kwargs: Any) -> httpx.AsyncClient:
        made.append(client_for(app, **kwargs))
        return made[-1]

    yield factory
    for c in made:
        await c.aclose()
