"""Fixtures of the error-tracking tests: a local Sentry endpoint and apps reporting to it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from errors_helpers import Reporting
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_server import SentryServer

import glowops
from glowops.settings import Settings
from glowops.telemetry import errors
from glowops.telemetry.server_span import ServerSpanHook
from glowops.telemetry.tracing import build_provider


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sentry_server() -> Iterator[SentryServer]:
    server = SentryServer().start()
    yield server
    server.stop()


@pytest.fixture
def reporting_app(sentry_server: SentryServer) -> Iterator[Callable[..., Reporting]]:
    """Instrument ``app`` with the real Sentry SDK reporting to the local endpoint, plus tracing."""
    made: list[Reporting] = []

    def build(app: FastAPI, **overrides: Any) -> Reporting:
        overrides.setdefault("environment", "staging")
        overrides.setdefault("sentry_release", "v9.9.9")
        settings = Settings(sentry_dsn=sentry_server.dsn, **overrides)
        hook = errors.setup_error_tracking(settings)
        assert hook is not None
        spans = InMemorySpanExporter()
        tracing = build_provider(settings, exporter=spans)
        stream = io.StringIO()
        glowops.instrument(
            app,
            settings,
            tracer=ServerSpanHook(tracing.tracer()),
            error_reporter=hook,
            log_stream=stream,
            health=False,
        )
        made.append(Reporting(app, hook, tracing, spans, stream))
        return made[-1]

    yield build
    errors.close_error_tracking()
    for reporting in made:
        reporting.tracing.provider.shutdown()
