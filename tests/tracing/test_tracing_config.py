"""Tracing configuration from the standard OTEL_* variables."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import OTLPReceiver

import glowops
from glowops.settings import ConfigError, Settings
from glowops.telemetry import tracing
from glowops.telemetry.server_span import ServerSpanHook

pytestmark = pytest.mark.anyio


def test_endpoint_resolution_follows_the_otel_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example.com:4318/")
    assert Settings().effective_otlp_traces_endpoint == "https://collector.example.com:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://other.example.com/custom/path")
    assert Settings().effective_otlp_traces_endpoint == "https://other.example.com/custom/path"
    assert (
        Settings(
            otel_exporter_otlp_endpoint=None, otel_exporter_otlp_traces_endpoint=None
        ).effective_otlp_traces_endpoint
        is None
    )


def test_no_endpoint_means_no_tracer() -> None:
    assert tracing.create_hook(Settings()) is None


@pytest.mark.parametrize(
    ("name", "arg", "description"),
    [
        ("always_on", None, "AlwaysOnSampler"),
        ("always_off", None, "AlwaysOffSampler"),
        ("traceidratio", 0.25, "TraceIdRatioBased{0.25}"),
        ("parentbased_always_on", None, "ParentBased{root:AlwaysOnSampler"),
        ("PARENTBASED_TRACEIDRATIO", 0.5, "ParentBased{root:TraceIdRatioBased{0.5}"),
    ],
)
def test_samplers(name: str, arg: float | None, description: str) -> None:
    assert tracing.build_sampler(name, arg).get_description().startswith(description)


def test_unknown_sampler_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER: unknown sampler 'sometimes'"):
        tracing.build_sampler("sometimes", None)


def test_headers_are_parsed_and_sent(receiver: OTLPReceiver) -> None:
    settings = Settings(
        otel_exporter_otlp_endpoint=receiver.endpoint,
        otel_exporter_otlp_headers="x-tenant=glow,authorization=Bearer%20abc",
    )
    assert tracing.otlp_headers(settings) == {"x-tenant": "glow", "authorization": "Bearer abc"}
    setup = tracing.build_provider(settings)
    try:
        setup.tracer().start_span("probe").end()
        assert setup.processor.force_flush(5000)
    finally:
        setup.provider.shutdown()
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert headers["x-tenant"] == "glow" and headers["authorization"] == "Bearer abc"
    assert headers["content-type"] == "application/x-protobuf"


def test_bad_headers_are_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_HEADERS"):
        tracing.otlp_headers(Settings(otel_exporter_otlp_headers="no pairs here"))


def test_always_off_exports_nothing(receiver: OTLPReceiver) -> None:
    setup = tracing.build_provider(
        Settings(otel_exporter_otlp_endpoint=receiver.endpoint, otel_traces_sampler="always_off")
    )
    try:
        setup.tracer().start_span("probe").end()
        assert setup.processor.force_flush(5000)
    finally:
        setup.provider.shutdown()
    assert receiver.spans == []


async def test_instrument_builds_the_tracer_from_settings(receiver: OTLPReceiver) -> None:
    """glowops.instrument() finds tracing.create_hook by itself when an endpoint is configured."""
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> str:
        return "hi"

    settings = Settings(otel_exporter_otlp_endpoint=receiver.endpoint, service_name="default-path-test")
    glowops.instrument(app, settings, error_reporter=False, health=False, configure_logs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/hello")).status_code == 200
    assert isinstance(app._glowops_instrumented.middleware.tracer, ServerSpanHook)  # type: ignore[attr-defined]
    setup = tracing.setup_tracing(settings)
    assert setup is not None and setup.processor.force_flush(5000)
    spans = receiver.wait_for(lambda s: len(s) >= 1)
    [span] = spans
    assert span.name == "GET /hello" and span.resource["service.name"] == "default-path-test"
    # not made global: FastAPI's native telemetry would add a second SERVER span per request
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    setup.provider.shutdown()
