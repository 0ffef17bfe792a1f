"""App factories that ``bench_serve`` runs under uvicorn (``bench.serve_apps:<stack>``).

Each worker process builds its own app from the environment: ``BENCH_OTLP_ENDPOINT`` (the
local collector) and ``BENCH_SENTRY_DSN`` (the local Sentry endpoint). The route is the same
as in the in-process benchmarks (``GET /items/{item_id}``, ``bench.bench_http.bare_app``).
glowops runs without its embedded alert engine and console here: what is measured is the
request path (the engine's effect on requests is ``bench_alerting``'s stall figure).
"""

from __future__ import annotations

import os
from typing import Any

from bench.bench_http import _devnull, bare_app, usual_app


def bare() -> Any:
    """FastAPI alone."""
    return bare_app()


def usual() -> Any:
    """asgi-correlation-id + prometheus-fastapi-instrumentator + a structlog access line +
    OpenTelemetry's FastAPI instrumentation exporting every span with the OTLP/HTTP exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    endpoint = os.environ["BENCH_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    app = usual_app()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app


def core() -> Any:
    """glowops.instrument without tracing and Sentry (JSON access line to /dev/null)."""
    import glowops
    from glowops.settings import Settings

    app = bare_app()
    glowops.instrument(
        app,
        Settings(embedded_alerting=False, console=False),
        log_stream=_devnull,
        tracer=False,
        error_reporter=False,
        health=False,
    )
    return app


def full() -> Any:
    """glowops.instrument with every span exported over OTLP/HTTP and Sentry on."""
    import glowops
    from glowops.settings import Settings

    settings = Settings(
        otel_exporter_otlp_endpoint=os.environ["BENCH_OTLP_ENDPOINT"],
        otel_traces_sampler="always_on",
        sentry_dsn=os.environ["BENCH_SENTRY_DSN"],
        sentry_release="bench",
        embedded_alerting=False,
        console=False,
    )
    app = bare_app()
    glowops.instrument(app, settings, log_stream=_devnull, health=False)
    return app
