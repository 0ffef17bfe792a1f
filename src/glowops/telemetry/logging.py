"""One log pipeline: structlog processors, orjson rendering, one JSON object per line.

Lines written through structlog (``glowops.get_logger()`` or plain ``structlog.get_logger()``)
and through the standard library (uvicorn, SQLAlchemy, Alembic, httpx, anything) pass the same
processors and come out in the same shape::

    {"timestamp": "2025-11-02T10:00:00.123456Z", "level": "info", "event": "document_uploaded",
     "logger": "gateway.documents", "service": "gateway", "environment": "production",
     "version": "1.4.0", "request_id": "...", "user_id": "u1", "org_id": "o1", "doc_id": "d9"}

trace_id and span_id are added when an OpenTelemetry span is active. Exceptions become
structured tracebacks (``exception``: a list of dicts, no local variables). The redaction
policy is the last processor before rendering, so nothing reaches the stream unredacted.
``GLOWOPS_LOG_FORMAT=console`` renders for a developer at a terminal instead.

The middleware's access line takes a hand-written fast path (:func:`access_line`) with the same
fields, counting and redaction, because it runs on every request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson
import structlog
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from glowops.redaction import default_policy
from glowops.settings import Settings
from glowops.telemetry import context as request_context
from glowops.telemetry.sql_params import SqlParameterFilter

__all__ = ["access_line", "configure_logging", "get_logger", "is_configured"]

EventProcessor = Callable[[WrappedLogger, str, EventDict], Any]

# Loggers whose own handlers are removed so that they propagate to ours.
ROUTED_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "sqlalchemy",
    "sqlalchemy.engine",
    "alembic",
    "httpx",
    "httpcore",
    "asyncio",
    "fastapi",
    "gunicorn",
    "gunicorn.error",
)
# Replaced by the middleware's canonical access line.
SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")

_LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
_HANDLER_MARK = "_glowops_handler"
_LOGGED_MARK = "__glowops_logged__"


# --- the output stream -------------------------------------------------------------------------
class _Sink:
    """Writes whole lines, each at once, so lines of threads and worker processes never mix.

    A stream backed by a file descriptor (stdout, a file, /dev/null) gets one ``os.write`` per
    line: no buffer to flush, and a line up to PIPE_BUF bytes is atomic on a shared pipe. Other
    streams (StringIO in tests) get a locked write + flush.
    """

    __slots__ = ("_lock", "dropped", "fd", "stream")

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        # Lines a dead stream refused (closed, full disk, broken pipe): a log line is never worth
        # failing the request or the job that wrote it.
        self.dropped = 0
        try:
            stream.flush()  # what was written through the text layer goes first
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None

    def line(self, text: str) -> None:
        if self.fd is not None:
            self.line_bytes(text.encode("utf-8", "replace"))
            return
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # ValueError: I/O operation on a closed file
                self.dropped += 1

    def line_bytes(self, data: bytes) -> None:
        fd = self.fd
        if fd is None:
            self.line(data.decode("utf-8", "replace"))
            return
        view = memoryview(data + b"\n")
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:  # EPIPE, ENOSPC, EBADF: the line is lost, the caller goes on
            self.dropped += 1


class _LineLogger:
    """The structlog "wrapped logger": receives the rendered line and writes it."""

    __slots__ = ("name", "sink")

    def __init__(self, sink: _Sink, name: str) -> None:
        self.sink = sink
        self.name = name

    def msg(self, message: str) -> None:
        self.sink.line(message)

    log = debug = info = warn = warning = error = err = exception = critical = fatal = msg


# --- processors --------------------------------------------------------------------------------
class _UtcClock:
    """RFC 3339 UTC timestamps with microseconds; the date-time part is cached per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"


_clock = _UtcClock()


def _span_context() -> Any:
    """The current span's context, or None. OpenTelemetry is an extra (glowops[tracing]): when
    neither glowops nor the service loaded it, there is no span to name."""
    otel_trace = sys.modules.get("opentelemetry.trace")
    if otel_trace is None:
        return None
    span_context = otel_trace.get_current_span().get_span_context()
    return span_context if span_context.is_valid else None


def _trace_ids(event: MutableMapping[str, Any]) -> None:
    span_context = _span_context()
    if span_context is not None:
        event["trace_id"] = format(span_context.trace_id, "032x")
        event["span_id"] = format(span_context.span_id, "016x")


def _add_logger_name(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    if "logger" not in event:
        record = event.get("_record")
        event["logger"] = record.name if record is not None else getattr(logger, "name", None) or "root"
    return event


def _add_level(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    event["level"] = "warning" if method == "warn" else "error" if method == "exception" else method
    return event


def _add_context(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    ctx = request_context.current()
    if ctx is None:
        event.setdefault("request_id", None)
        event.setdefault("user_id", None)
        event.setdefault("org_id", None)
    else:
        event.setdefault("request_id", ctx.request_id)
        event.setdefault("user_id", ctx.user_id)
        event.setdefault("org_id", ctx.org_id)
    _trace_ids(event)
    return event


@dataclass(slots=True)
class _Pipeline:
    """Everything configure_logging decided, shared by the processors and the fast path."""

    settings: Settings
    sink: _Sink
    level: int
    json: bool
    static: dict[str, Any]
    redact: Callable[[Any], Any]
    redact_text: Callable[[str], str]
    counters: dict[str, Any] = field(default_factory=dict)
    formatter: logging.Formatter | None = None
    access_head: str = ""  # pre-rendered constant part of the access line
    info_counter: Any = None


_pipeline: _Pipeline | None = None


def _add_static(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    assert _pipeline is not None
    event["timestamp"] = _clock.now()
    for key, value in _pipeline.static.items():
        event.setdefault(key, value)
    counter = _pipeline.counters.get(event.get("level", ""))
    if counter is not None:
        counter.inc()
    return event


def _redact(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    if _pipeline is not None:
        redacted: EventDict = _pipeline.redact(event)
        return redacted
    return event


_FIRST = (
    "timestamp",
    "level",
    "event",
    "logger",
    "service",
    "environment",
    "version",
    "request_id",
    "user_id",
    "org_id",
)


def _ordered(event: EventDict) -> dict[str, Any]:
    """Canonical key order first (easy to read), the rest as given."""
    out = {key: event.pop(key) for key in _FIRST if key in event}
    out.update(event)
    return out


def _orjson_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, set | frozenset):
        return list(value)
    return repr(value)


_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS


def _render_json(logger: WrappedLogger, method: str, event: EventDict) -> str:
    event.pop("_record", None)
    event.pop("_from_structlog", None)
    return orjson.dumps(_ordered(event), default=_orjson_default, option=_ORJSON_OPTS).decode()


def _drop_meta(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    event.pop("_record", None)
    event.pop("_from_structlog", None)
    return event


_dict_tracebacks = ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
_text_tracebacks = ExceptionRenderer()


def _processors(json: bool, stream: TextIO) -> tuple[list[Processor], list[Processor]]:
    """(pre-chain shared by structlog and stdlib records, final chain ending in a str)."""
    pre: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_logger_name,
        _add_level,
        _add_context,
        _add_static,
        structlog.processors.StackInfoRenderer(),
    ]
    if json:
        final: list[Processor] = [_dict_tracebacks, _redact, _render_json]
    else:
        colors = bool(getattr(stream, "isatty", lambda: False)())
        plain = structlog.dev.plain_traceback
        console = structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=plain)
        final = [_text_tracebacks, _redact, _drop_meta, console]
    return pre, final


# --- the stdlib side -----------------------------------------------------------------------------
class _StdlibHandler(logging.Handler):
    """Root handler: stdlib records through the structlog chain (ProcessorFormatter)."""

    def __init__(self, sink: _Sink, formatter: logging.Formatter, sql_parameters: bool) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(formatter)
        if not sql_parameters:
            self.addFilter(SqlParameterFilter())
        setattr(self, _HANDLER_MARK, True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.line(self.format(record))
        except Exception:
            self.handleError(record)

    def handle(self, record: logging.LogRecord) -> bool:
        # The middleware has already logged this exception with the request's context.
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and getattr(exc, _LOGGED_MARK, False):
            return False
        return super().handle(record)


def _route_stdlib(pipeline: _Pipeline, pre: list[Processor], final: list[Processor]) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=pre, processors=final)
    pipeline.formatter = formatter
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_StdlibHandler(pipeline.sink, formatter, pipeline.settings.log_sql_parameters))
    root.setLevel(pipeline.level)
    reroute_stdlib_loggers()


def reroute_stdlib_loggers() -> None:
    """Strip handlers that uvicorn/gunicorn installed, so their lines go through glowops.

    Called by configure_logging and again at app start-up, because ``uvicorn.run(app)`` applies
    its own logging config after the app module was imported.
    """
    for name in ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    for name in SILENCED_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = False
        logger.disabled = True


# --- public API ------------------------------------------------------------------------------------
def configure_logging(settings: Settings | None = None, stream: TextIO | None = None) -> None:
    """Install the pipeline for structlog and the standard library (safe to call again).

    ``stream`` defaults to ``sys.stdout``; tests pass a ``StringIO``.
    """
    global _pipeline
    if settings is None:
        from glowops.settings import get_settings

        settings = get_settings()
    out = stream if stream is not None else sys.stdout
    json = settings.log_format == "json"
    level = logging.getLevelNamesMapping()[settings.log_level]
    policy = default_policy(settings)
    pipeline = _Pipeline(
        settings=settings,
        sink=_Sink(out),
        level=level,
        json=json,
        static={
            "service": settings.service_name,
            "environment": settings.environment,
            "version": settings.effective_version,
        },
        counters=_level_counters(),
        redact=policy.redact_event,
        redact_text=policy.redact_text,
    )
    pipeline.info_counter = pipeline.counters.get("info")
    static_json = orjson.dumps(pipeline.static).decode()[1:-1]
    pipeline.access_head = f'"level":"info","event":"request","logger":"{ACCESS_LOGGER}",{static_json}'
    _pipeline = pipeline
    pre, final = _processors(json, out)
    structlog.configure(
        processors=[*pre, *final],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: _LineLogger(pipeline.sink, str(args[0]) if args and args[0] else "app"),
        context_class=dict,
        cache_logger_on_first_use=False,
    )
    _route_stdlib(pipeline, pre, final)
    _warn_sql_parameters(settings)


def is_configured() -> bool:
    """True once :func:`configure_logging` has run in this process."""
    return _pipeline is not None


def is_glowops_handler(handler: logging.Handler) -> bool:
    """True for the root handler :func:`configure_logging` installed."""
    return bool(getattr(handler, _HANDLER_MARK, False))


_joined = False


def _warn_sql_parameters(settings: Settings) -> None:
    if settings.log_sql_parameters:
        logging.getLogger("glowops.logging").warning(
            "GLOWOPS_LOG_SQL_PARAMETERS is on: SQL drivers' log lines show query parameters and "
            "result rows, which hold user data; turn it off outside local debugging"
        )


def join_logging(settings: Settings) -> None:
    """Keep the service's own logging set-up; add glowops' context and redaction to it, and send
    the access line through it (see :mod:`glowops.telemetry.log_join`)."""
    global _joined
    from glowops.telemetry.log_join import join_host_logging

    policy = default_policy(settings)
    join_host_logging(policy.redact_event, policy.redact_text, sql_parameters=settings.log_sql_parameters)
    _warn_sql_parameters(settings)
    _joined = True


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; request_id, user_id, org_id (and trace ids) are added per line.

    ``log = glowops.get_logger("gateway.documents"); log.info("document_uploaded", doc_id=d)``
    """
    if name is None:
        frame = sys._getframe(1)
        name = frame.f_globals.get("__name__", "app")
    return structlog.get_logger(name, **initial)


def mark_logged(exc: BaseException) -> None:
    """Remember that ``exc`` was logged, so the server's own report of it is dropped."""
    with contextlib.suppress(AttributeError, TypeError):  # __slots__ exceptions cannot be marked
        setattr(exc, _LOGGED_MARK, True)


ACCESS_LOGGER = "glowops.access"


def access_line(
    method: str,
    route: str,
    path: str,
    status: int,
    duration_ms: float,
    sent: int,
    ctx: request_context.RequestContext,
    with_trace: bool = True,
) -> None:
    """Write the canonical access line of one request (the middleware's hot path).

    Same fields, level counting and redaction as every other line, without the generic chain:
    the line is assembled from pre-rendered JSON, and only its free-text fields (path, user_id,
    org_id) can carry personal data, so those pass the policy's text scrubber. ``with_trace``
    False skips the span look-up when no tracer is installed.
    """
    pipeline = _pipeline
    if pipeline is None:
        if _joined:  # the service's own logging set-up renders it
            from glowops.telemetry.log_join import access_record

            access_record(
                {
                    "request_id": ctx.request_id,
                    "user_id": ctx.user_id,
                    "org_id": ctx.org_id,
                    "method": method,
                    "route": route,
                    "path": path,
                    "status": status,
                    "duration_ms": round(duration_ms, 3),
                    "bytes": sent,
                }
            )
        return
    if pipeline.level > logging.INFO:
        return
    counter = pipeline.info_counter
    if counter is not None:
        counter.inc()
    if not pipeline.json:
        _access_line_slow(pipeline, method, route, path, status, duration_ms, sent, ctx)
        return
    user_id = ctx.user_id
    org_id = ctx.org_id
    scrub = pipeline.redact_text
    path = scrub(path)
    if user_id is not None:
        user_id = scrub(user_id)
    if org_id is not None:
        org_id = scrub(org_id)
    route_json = _route_json.get(route)
    if route_json is None:
        route_json = _json(route)
        if len(_route_json) < 10_000:  # templates are few; the bound is only a safety net
            _route_json[route] = route_json
    trace = ""
    if with_trace:
        span_context = _span_context()
        if span_context is not None:
            trace = f',"trace_id":"{span_context.trace_id:032x}","span_id":"{span_context.span_id:016x}"'
    line = (
        f'{{"timestamp":"{_clock.now()}",{pipeline.access_head},"request_id":{_json(ctx.request_id)},'
        f'"user_id":{_json(user_id)},"org_id":{_json(org_id)},"method":"{method}","route":{route_json},'
        f'"path":{_json(path)},"status":{status},"duration_ms":{duration_ms:.3f},"bytes":{sent}{trace}}}'
    )
    pipeline.sink.line(line)


_route_json: dict[str, str] = {}


def _json(value: str | None) -> str:
    return "null" if value is None else orjson.dumps(value).decode()


def _access_line_slow(
    pipeline: _Pipeline,
    method: str,
    route: str,
    path: str,
    status: int,
    duration_ms: float,
    sent: int,
    ctx: request_context.RequestContext,
) -> None:
    """The access line as an event dict (the console format)."""
    event: dict[str, Any] = {
        "timestamp": _clock.now(),
        "level": "info",
        "event": "request",
        "logger": ACCESS_LOGGER,
        **pipeline.static,
        "request_id": ctx.request_id,
        "user_id": ctx.user_id,
        "org_id": ctx.org_id,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "bytes": sent,
    }
    _trace_ids(event)
    event = pipeline.redact(event)
    if pipeline.json:
        pipeline.sink.line_bytes(orjson.dumps(event, default=_orjson_default))
    else:
        pipeline.sink.line(_render_console(event))


def _render_console(event: dict[str, Any]) -> str:
    return str(structlog.dev.ConsoleRenderer(colors=False)(None, "info", dict(event)))


# --- helpers ----------------------------------------------------------------------------------------
def _level_counters() -> dict[str, Any]:
    from glowops.telemetry.metrics import metrics

    family = metrics.metric("glowops_log_events")
    return {level: family.labels(level) for level in _LEVEL_NAMES}
