"""Fixtures of the tracing tests: a local OTLP receiver and apps traced into it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from otlp_receiver import OTLPReceiver
from tracing_helpers import Traced

import glowops
from glowops.settings import Settings
from glowops.telemetry.server_span import ServerSpanHook
from glowops.telemetry.tracing import build_provider


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    server = OTLPReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def traced_app() -> Iterator[Callable[..., Traced]]:
    """Instrument ``app`` with tracing to ``endpoint`` (a TracerProvider of its own, not global)."""
    made: list[Traced] = []

    def build(app: FastAPI, endpoint: str, **overrides: Any) -> Traced:
        overrides.setdefault("service_version", "1.2.3")
        settings = Settings(otel_exporter_otlp_endpoint=endpoint, **overrides)
        setup = build_provider(settings)
        stream = io.StringIO()
        glowops.instrument(
            app,
            settings,
            tracer=ServerSpanHook(setup.tracer()),
            error_reporter=False,
            log_stream=stream,
            health=False,
        )
        made.append(Traced(app, setup, settings, stream))
        return made[-1]

    yield build
    for traced in made:
        traced.setup.provider.shutdown()
