"""OpenTelemetry tracing from :class:`~glowops.settings.Settings`.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set, every
request gets one SERVER span (:mod:`glowops.telemetry.server_span`), exported over OTLP/HTTP
protobuf through a bounded queue; without it, no tracer is installed and requests pay
nothing. The standard variables are honoured::

    OTEL_SERVICE_NAME=gateway
    OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318     # spans go to .../v1/traces
    OTEL_EXPORTER_OTLP_HEADERS=x-tenant=glow,authorization=Bearer%20abc
    OTEL_TRACES_SAMPLER=parentbased_traceidratio  OTEL_TRACES_SAMPLER_ARG=0.25

Child spans of the request: call :func:`instrument_sqlalchemy` on the engine,
:func:`instrument_httpx_client` on outgoing HTTP clients (also propagates ``X-Request-ID`` and
``traceparent``), :func:`instrument_redis` on Redis clients.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.util.re import parse_env_headers

import glowops
from glowops.redaction import default_policy
from glowops.settings import ConfigError, Settings, get_settings
from glowops.telemetry.context import REQUEST_ID_HEADER, current_request_id
from glowops.telemetry.otlp_encoder import OTLPProtobufSpanExporter
from glowops.telemetry.server_span import ServerSpanHook
from glowops.telemetry.span_export import BoundedBatchSpanProcessor

__all__ = [
    "SAMPLERS",
    "TracingSetup",
    "build_sampler",
    "create_hook",
    "flush_tracing",
    "instrument_clients",
    "instrument_httpx_client",
    "instrument_redis",
    "instrument_sqlalchemy",
    "propagate_request_id",
    "setup_tracing",
    "shutdown_tracing",
]

TRACER_NAME = "glowops"
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
# The OTLP exporter logs every failed or retried batch; one line a minute says enough when the
# collector is down (our own drop warning says what it costs).
_NOISY_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
)
_lock = threading.Lock()
_setups: dict[tuple[Any, ...], TracingSetup] = {}
_Client = TypeVar("_Client")


@dataclass
class TracingSetup:
    """What :func:`setup_tracing` built: the provider and its export processor."""

    provider: TracerProvider
    processor: BoundedBatchSpanProcessor
    endpoint: str

    def tracer(self) -> trace.Tracer:
        return self.provider.get_tracer(TRACER_NAME, glowops.__version__)


def build_sampler(name: str, arg: float | None) -> Sampler:
    """The sampler named by ``OTEL_TRACES_SAMPLER`` (its ratio from ``OTEL_TRACES_SAMPLER_ARG``)."""
    ratio = 1.0 if arg is None else arg
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    sampler = samplers.get(name.strip().lower())
    if sampler is None:
        expected = ", ".join(SAMPLERS)
        raise ConfigError(f"OTEL_TRACES_SAMPLER: unknown sampler {name!r} (expected one of {expected})")
    return sampler


def build_resource(settings: Settings) -> Resource:
    """service.name, service.version, deployment.environment and process.pid of every span
    (the pid tells the workers of one service apart; each builds its provider itself)."""
    version = settings.effective_version
    return Resource.create(
        {
            "process.pid": os.getpid(),
            "service.name": settings.service_name,
            "service.version": version,
            "deployment.environment": settings.environment,
            "deployment.environment.name": settings.environment,
        }
    )


def otlp_headers(settings: Settings) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS`` parsed (``k=v,k2=v2``, values URL-encoded)."""
    raw = settings.otel_exporter_otlp_headers
    if raw is None or not raw.get_secret_value().strip():
        return {}
    headers = parse_env_headers(raw.get_secret_value(), liberal=True)
    if not headers:
        raise ConfigError("OTEL_EXPORTER_OTLP_HEADERS: expected comma-separated name=value pairs")
    return dict(headers)


def build_provider(settings: Settings, exporter: SpanExporter | None = None) -> TracingSetup:
    """A TracerProvider exporting to the settings' endpoint (or to ``exporter``), not made global.

    Spans pass the redaction policy and a bounded queue of ``otel_max_queue_size`` spans.
    """
    endpoint = settings.effective_otlp_traces_endpoint or ""
    if exporter is None:
        if not endpoint:
            raise ConfigError(
                "tracing needs OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
            )
        exporter = OTLPProtobufSpanExporter(
            endpoint=endpoint, headers=otlp_headers(settings), timeout=settings.otel_export_timeout_seconds
        )
    provider = TracerProvider(
        sampler=build_sampler(settings.otel_traces_sampler, settings.otel_traces_sampler_arg),
        resource=build_resource(settings),
    )
    processor = BoundedBatchSpanProcessor(
        exporter, policy=default_policy(settings), max_queue_size=settings.otel_max_queue_size
    )
    provider.add_span_processor(processor)
    _quiet_export_loggers()
    return TracingSetup(provider=provider, processor=processor, endpoint=endpoint)


def setup_tracing(settings: Settings) -> TracingSetup | None:
    """The process's tracing for ``settings``: None without an OTLP endpoint.

    Built once per configuration. It is deliberately *not* made the global tracer provider:
    FastAPI (0.16x) starts its own SERVER span and per-dependency/endpoint/serialization spans
    for every request as soon as a global SDK provider exists, which would double the server
    spans and cost far more than the one span glowops creates. The helpers below
    (:func:`instrument_sqlalchemy`, :func:`instrument_httpx_client`, :func:`instrument_redis`)
    pass this provider explicitly instead.
    """
    if not settings.effective_otlp_traces_endpoint:
        return None
    key = (
        settings.effective_otlp_traces_endpoint,
        settings.otel_exporter_otlp_headers,
        settings.service_name,
        settings.service_version,
        settings.environment,
        settings.otel_traces_sampler,
        settings.otel_traces_sampler_arg,
        settings.otel_max_queue_size,
        settings.otel_export_timeout_seconds,
        tuple(settings.redaction_extra_keys),
        settings.redaction_hmac_key,
    )
    with _lock:
        setup = _setups.get(key)
        if setup is None:
            setup = _setups[key] = build_provider(settings)
    return setup


def flush_tracing(timeout_seconds: float = 5.0) -> None:
    """Export what the span queues hold (at application shutdown; the providers stay usable,
    since another app in the process may share them, and the SDK shuts them down at exit)."""
    with _lock:
        setups = list(_setups.values())
    deadline = time.monotonic() + timeout_seconds
    for setup in setups:
        setup.processor.force_flush(int(max(0.0, deadline - time.monotonic()) * 1000))


def shutdown_tracing(timeout_seconds: float = 5.0) -> None:
    """Flush and stop every provider built by :func:`setup_tracing` (at application shutdown)."""
    with _lock:
        setups = list(_setups.values())
    deadline = time.monotonic() + timeout_seconds
    for setup in setups:
        setup.processor.force_flush(int(max(0.0, deadline - time.monotonic()) * 1000))
        setup.provider.shutdown()


def create_hook(settings: Settings) -> ServerSpanHook | None:
    """The middleware's tracer hook (see :mod:`glowops.telemetry.hooks`); None when tracing is off."""
    setup = setup_tracing(settings)
    return ServerSpanHook(setup.tracer()) if setup is not None else None


# --- child spans and propagation on outgoing calls ---------------------------------------------
def _provider(tracer_provider: trace.TracerProvider | None) -> trace.TracerProvider | None:
    if tracer_provider is not None:
        return tracer_provider
    with _lock:
        first = next(iter(_setups.values()), None)
    if first is None:  # called before instrument(): set tracing up from the process settings
        first = setup_tracing(get_settings())
    return first.provider if first is not None else None


def instrument_sqlalchemy(engine: Any, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Child spans for every SQL statement run through ``engine`` (sync or async engine).

    Idempotent; does nothing while tracing is off. Statements are recorded with their bound
    parameters as placeholders; the text still passes the redaction policy on export.
    """
    provider = _provider(tracer_provider)
    if provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqla_version
    from opentelemetry.metrics import NoOpMeterProvider

    sync_engine = getattr(engine, "sync_engine", engine)
    if getattr(sync_engine, "_glowops_traced", False):
        return
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", sqla_version)
    # Connection-pool usage is a metric of that package; glowops' metrics live in Prometheus.
    usage = NoOpMeterProvider().get_meter("glowops").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, sync_engine, usage)  # type: ignore[no-untyped-call]
    sync_engine._glowops_traced = True


def instrument_clients(
    settings: Settings, *, engine: Any = None, redis: Any = None, http_clients: tuple[Any, ...] = ()
) -> None:
    """Everything a service's outgoing clients need, in one call (idempotent).

    ``X-Request-ID`` on every outgoing HTTP request; when tracing is on for ``settings``, CLIENT
    spans for HTTP and Redis and child spans for SQL, with ``traceparent`` injected::

        glowops.instrument_clients(settings, engine=db.engine, redis=redis, http_clients=(openai,))
    """
    setup = setup_tracing(settings)
    provider = setup.provider if setup is not None else None
    for client in http_clients:
        propagate_request_id(client)
        if provider is not None:
            instrument_httpx_client(client, provider)
    if provider is not None:
        if engine is not None:
            instrument_sqlalchemy(engine, provider)
        if redis is not None:
            instrument_redis(redis, provider)


def propagate_request_id(client: _Client) -> _Client:
    """Add ``X-Request-ID`` of the current request to every request ``client`` sends.

    Works for ``httpx.Client`` and ``httpx.AsyncClient``; an explicit header is kept.
    """
    if getattr(client, "_glowops_request_id", False):
        return client
    hooks = client.event_hooks  # type: ignore[attr-defined]
    if isinstance(client, httpx.AsyncClient):

        async def add_async(request: httpx.Request) -> None:
            _add_request_id(request)

        hooks["request"] = [*hooks["request"], add_async]
    else:
        hooks["request"] = [*hooks["request"], _add_request_id]
    client._glowops_request_id = True  # type: ignore[attr-defined]
    return client


def _add_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id is not None and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id


def instrument_httpx_client(client: _Client, tracer_provider: trace.TracerProvider | None = None) -> _Client:
    """A CLIENT span per outgoing request, W3C ``traceparent`` injected, ``X-Request-ID`` added.

    Returns the client; idempotent. Without tracing only the request ID is propagated::

        client = instrument_httpx_client(httpx.AsyncClient(base_url=...))
    """
    propagate_request_id(client)
    provider = _provider(tracer_provider)
    if provider is not None and not getattr(client, "_is_instrumented_by_opentelemetry", False):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)  # type: ignore[arg-type]
    return client


def instrument_redis(client: _Client, tracer_provider: trace.TracerProvider | None = None) -> _Client:
    """A CLIENT span per Redis command of ``client`` (sync or asyncio); idempotent; returns it."""
    provider = _provider(tracer_provider)
    if provider is not None and not getattr(client, "_is_instrumented_by_opentelemetry", False):
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor.instrument_client(client, tracer_provider=provider)  # type: ignore[arg-type]
    return client


class _OncePerInterval(logging.Filter):
    """Lets one record through per ``interval`` seconds."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self._next_at = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now < self._next_at:
            return False
        self._next_at = now + self.interval
        return True


def _quiet_export_loggers() -> None:
    for name in _NOISY_EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OncePerInterval) for f in logger.filters):
            logger.addFilter(_OncePerInterval())
