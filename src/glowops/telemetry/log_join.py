"""Joining the logging a service set up itself, instead of replacing it.

A service that configured structlog, or put handlers on the root logger (``logging.basicConfig``,
``dictConfig``), keeps its format and destinations. glowops then only adds what it owes every
line: the request context (request_id, user_id, org_id, trace ids) and the redaction policy, and
writes its own lines (the access line) through the standard library logger ``glowops.access``
so the service's handlers render them.

- structlog: glowops' context and redaction processors are inserted just before the service's
  renderer (the last processor).
- the standard library: a filter on each root handler adds the context as record attributes
  (``%(request_id)s`` works in a format string) and replaces the message, and string values the
  service passed in ``extra``, by their redacted text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from glowops.telemetry import context as request_context
from glowops.telemetry.sql_params import SqlParameterFilter

_JOINED = "_glowops_joined"
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
ACCESS_LOGGER = "glowops.access"


def host_configured_logging() -> bool:
    """True when the service configured structlog, or the root logger has handlers of its own."""
    if structlog.is_configured():
        return True
    from glowops.telemetry.logging import is_glowops_handler

    return any(not is_glowops_handler(handler) for handler in logging.getLogger().handlers)


def join_host_logging(redact_event: Callable[[Any], Any], redact_text: Callable[[str], str], *,
                      sql_parameters: bool = False) -> None:
    """Add context and redaction to the service's own logging set-up (safe to call again).

    Unless ``sql_parameters``, SQL drivers' parameters and rows are hidden on every handler too.
    """
    if structlog.is_configured():
        processors = list(structlog.get_config()["processors"])
        if not any(getattr(p, _JOINED, False) for p in processors):
            at = max(len(processors) - 1, 0)  # before the renderer
            processors[at:at] = [_mark(_structlog_context), _mark(_structlog_redactor(redact_event))]
            structlog.configure(processors=processors)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _JoinFilter) for f in handler.filters):
            if not sql_parameters:
                handler.addFilter(SqlParameterFilter())  # before the redaction reads the message
            handler.addFilter(_JoinFilter(redact_text))
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)


def _mark(processor: Any) -> Any:
    setattr(processor, _JOINED, True)
    return processor


def _structlog_context(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    ctx = request_context.current()
    if ctx is not None:
        event.setdefault("request_id", ctx.request_id)
        event.setdefault("user_id", ctx.user_id)
        event.setdefault("org_id", ctx.org_id)
    _trace_ids(event)
    return event


Processor = Callable[[WrappedLogger, str, EventDict], EventDict]


def _structlog_redactor(redact_event: Callable[[Any], Any]) -> Processor:
    def redact(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        redacted: EventDict = redact_event(event)
        return redacted

    return redact


def _trace_ids(target: Any) -> None:
    """trace_id/span_id of the active OpenTelemetry span, when tracing is installed and one is."""
    import sys

    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        put = target.__setitem__ if isinstance(target, dict) else lambda k, v: setattr(target, k, v)
        put("trace_id", format(span_context.trace_id, "032x"))
        put("span_id", format(span_context.span_id, "016x"))


class _JoinFilter(logging.Filter):
    """Request context on every record, and its message and extra strings redacted."""

    def __init__(self, redact_text: Callable[[str], str]) -> None:
        super().__init__()
        self.redact_text = redact_text

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = request_context.current()
        for name, value in (
            ("request_id", ctx.request_id if ctx else None),
            ("user_id", ctx.user_id if ctx else None),
            ("org_id", ctx.org_id if ctx else None),
        ):
            if not hasattr(record, name):
                setattr(record, name, value)
        _trace_ids(record)
        message = record.getMessage()
        redacted = self.redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, self.redact_text(value))
        return True


def access_record(fields: dict[str, Any]) -> None:
    """One access line through ``glowops.access`` (the service's handlers render it)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if logger.isEnabledFor(logging.INFO):
        logger.info("request", extra=fields)
