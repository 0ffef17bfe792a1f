"""The export path of spans: redaction, a bounded queue, and counted drops.

A request only ever appends its finished span to a bounded queue; a background thread posts
batches. When the collector is down or hangs, the queue fills and further spans are dropped,
never waited for: each drop (queue full or failed export) adds to the
``glowops_spans_dropped`` counter and at most one warning per minute is logged.

With glowops' OTLP exporter (:class:`~glowops.telemetry.otlp_encoder.OTLPProtobufSpanExporter`)
a span is redacted and encoded to its protobuf bytes when it ends, on the thread that ended it
(about 8 µs for a server span), and the queue holds those bytes; the export thread only
assembles a request from them and posts it. Encoding on the export thread would cost the same
CPU, but the export thread then needs the GIL while the event loop runs: it gets it late (the
loop's short I/O releases keep taking it back), holds it for up to the 5 ms switch interval
when it does, and every hand-over between the two costs wall time on a busy machine. Any other
exporter gets the spans themselves, redacted on the export thread.

The SDK's :class:`BatchSpanProcessor` does the batching. It is wrapped rather than copied: the
wrapper admits a span only while fewer than ``max_queue_size`` spans are waiting (counted on
the way in, uncounted when the exporter receives them), so the SDK's own queue never overflows
and every drop happens here, where it is counted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, TraceState

from glowops.redaction import MASK, RedactionPolicy
from glowops.telemetry.metrics import metrics
from glowops.telemetry.otlp_encoder import EncodedSpan, OTLPProtobufSpanExporter
from glowops.telemetry.server_span import ServerSpan

__all__ = ["BoundedBatchSpanProcessor", "DropWarning", "RedactingSpanExporter"]

_log = logging.getLogger("glowops.tracing")
_monotonic = time.monotonic
DROPPED_METRIC = "glowops_spans_dropped"
HANDOFF_AFTER = 0.001
"""Seconds a woken export thread may go without starting before a request hands it the GIL."""
HANDOFF_TIMEOUT = 0.005
"""The longest a request waits for that hand-over (CPython's default GIL switch interval)."""


class DropWarning:
    """Logs at most one warning per ``interval`` seconds, with the drops counted since the last."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._pending = 0

    def dropped(self, count: int, reason: str) -> None:
        """Record ``count`` dropped spans; count them in the metric; maybe warn."""
        metrics.counter(DROPPED_METRIC, count)
        with self._lock:
            self._pending += count
            now = self._clock()
            if now < self._next_at:
                return
            pending, self._pending = self._pending, 0
            self._next_at = now + self.interval
        _log.warning(
            "spans dropped: %d (%s); requests are not affected, tracing data is lost "
            "(next warning in %.0f s at the earliest)",
            pending,
            reason,
            self.interval,
        )


class RedactingSpanExporter(SpanExporter):
    """Passes span names, attributes and events through the redaction policy, then exports.

    A span whose data needs no change is exported as it is; otherwise a redacted copy is.
    :meth:`prepare` runs when a span ends: for an OTLP exporter of glowops it redacts and
    encodes the span there (see the module docs); other spans are redacted in :meth:`export`,
    on the export thread. Export failures (the exporter returned FAILURE or raised) are counted
    as dropped spans.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        policy: RedactionPolicy,
        on_exported: Callable[[int], None],
        warning: DropWarning,
    ) -> None:
        self.exporter = exporter
        self.policy = policy
        self._on_exported = on_exported
        self._warning = warning
        self._encode = exporter.encoder.encoded if isinstance(exporter, OTLPProtobufSpanExporter) else None
        # the server span's free-text keys that the policy does not mask or pseudonymise by name
        self._plain_server_keys = frozenset(
            key for key in _UNTRUSTED_SERVER_KEYS if policy.redact_event({key: "probe"}) == {key: "probe"}
        )

    def prepare(self, span: ReadableSpan) -> ReadableSpan | EncodedSpan:
        """What the export queue holds for ``span``: its redacted encoding, or the span itself."""
        encode = self._encode
        return span if encode is None else encode(self.redact_span(span))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._on_exported(len(spans))
        try:
            batch = [span if isinstance(span, EncodedSpan) else self.redact_span(span) for span in spans]
            result = self.exporter.export(batch)
        except Exception as exc:  # an exporter bug must not kill the export thread
            self._warning.dropped(len(spans), f"export raised {type(exc).__name__}")
            return SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._warning.dropped(len(spans), "export failed: collector unreachable, slow or refusing")
        return result

    def redact_span(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` itself when nothing in it is sensitive, else a redacted copy.

        The span's W3C ``tracestate`` (the caller's, propagated downstream unchanged) is span
        data too: an entry the policy would change loses its value (see :func:`clean_trace_state`).
        """
        policy = self.policy
        context = span.context
        clean_context = None
        if context is not None and context.trace_state:
            clean_context = _clean_context(policy, context)
        if clean_context is None and isinstance(span, ServerSpan) and span._own:
            # Only glowops' attributes: the trusted ones are skipped, the others are strings
            # whose keys the policy treats as plain, so the text scrub alone decides.
            scrub = policy.redact_text
            plain_keys = self._plain_server_keys
            changed: dict[str, Any] | None = None
            for key, value in span._attributes.items():
                if key in _TRUSTED_SERVER_KEYS:
                    continue
                if key not in plain_keys or value.__class__ is not str:
                    break  # anything else: the general path below
                clean = scrub(value)
                if clean != value:
                    if changed is None:
                        changed = dict(span._attributes)
                    changed[key] = clean
            else:
                if changed is None and not span._events:
                    return span
        attributes = span.attributes or {}
        scope = span.instrumentation_scope
        trusted = _TRUSTED_SERVER_KEYS if scope is not None and scope.name == "glowops" else frozenset()
        clean_attributes = _redact_attributes(policy, attributes, trusted)
        name = policy.redact_text(span.name)
        events = span.events
        clean_events = tuple(_redact_event(policy, event) for event in events)
        changed_events = any(new is not old for new, old in zip(clean_events, events, strict=True))
        unchanged = clean_attributes is attributes and name == span.name and not changed_events
        if unchanged and clean_context is None:
            return span
        return ReadableSpan(
            name=name,
            context=clean_context or span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=clean_attributes,
            events=clean_events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


# Values the server span takes from closed sets or from code, never from the client: the
# method (normalised), scheme, protocol version, port, status code and the route *template*.
_TRUSTED_SERVER_KEYS = frozenset(
    {
        "http.request.method",
        "url.scheme",
        "network.protocol.version",
        "server.port",
        "http.response.status_code",
        "http.route",
    }
)
# ...and the ones it takes from the request: scrubbed as text
_UNTRUSTED_SERVER_KEYS = (
    "url.path",
    "server.address",
    "client.address",
    "user_agent.original",
    "http.request.method_original",
    "error.type",
)


def _redact_attributes(
    policy: RedactionPolicy, attributes: Mapping[str, Any], trusted: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    """The attributes redacted; the same object when nothing changed (the common case)."""
    if not attributes:
        return attributes
    plain = {key: value for key, value in attributes.items() if key not in trusted}
    # the flat-event walk: key rules, then values (strings once found clean are a set look-up)
    clean = policy.redact_event(plain)
    if clean == plain:
        return attributes
    # OTel attribute values are primitives or homogeneous sequences; the walk turns tuples
    # into tuples and lists into lists, which the encoder accepts.
    kept = {key: value for key, value in attributes.items() if key in trusted}
    return {**kept, **{str(key): value for key, value in clean.items()}}


def clean_trace_state(policy: RedactionPolicy, state: TraceState) -> TraceState | None:
    """``state`` with the value of every entry the policy flags replaced by the mask; an entry
    whose key is flagged is dropped. None when nothing changed (the usual case).

    Values are checked as ``key=value`` (so a secret-named key masks its value) and alone, both
    through the decoded pass: percent-encoded secrets count too.
    """
    entries: list[tuple[str, str]] = []
    changed = False
    for key, value in state.items():
        if policy.redact_text(key) != key:
            changed = True
            continue
        if policy.redact_text(f"{key}={value}") != f"{key}={value}" or policy.redact_text(value) != value:
            changed = True
            value = MASK
        entries.append((key, value))
    return TraceState(entries) if changed else None


def _clean_context(policy: RedactionPolicy, context: SpanContext) -> SpanContext | None:
    state = clean_trace_state(policy, context.trace_state)
    if state is None:
        return None
    return SpanContext(context.trace_id, context.span_id, context.is_remote, context.trace_flags, state)


def _redact_event(policy: RedactionPolicy, event: Event) -> Event:
    attributes = event.attributes or {}
    clean = _redact_attributes(policy, attributes)
    name = policy.redact_text(event.name)
    if clean is attributes and name == event.name:
        return event
    return Event(name, clean, event.timestamp)


class BoundedBatchSpanProcessor(SpanProcessor):
    """The SDK's batch processor behind an admission check that counts every dropped span.

    Args:
        exporter: where batches go (wrapped in a :class:`RedactingSpanExporter`).
        policy: the redaction policy applied to every span before export.
        max_queue_size: spans waiting for export beyond which new spans are dropped.
        schedule_delay_millis: the longest a span waits in the queue.
        max_export_batch_size: spans per export request; the export thread is woken when this
            many are waiting. Default: half the queue. Each wake-up costs more than its own
            work: the export thread then waits for the GIL while the event loop keeps taking it
            back at every short I/O release (a convoy), and each of those hand-overs costs both
            threads CPU time. Measured in ``bench_full``: waking every 512 spans instead of
            every 1,024 cost about 10 µs per request at full load.
        warning: the rate-limited drop warning (shared, for tests).

    The GIL hand-over: when the export thread has been woken and has still not started
    exporting :data:`HANDOFF_AFTER` seconds later, it is starved (the convoy above: on a busy
    event loop it waited up to 0.4 s, with spans piling up and every request paying for the
    futile wake-ups). The next span that ends then waits, at most :data:`HANDOFF_TIMEOUT`, on an
    event the export thread sets when it starts: blocking there releases the GIL long enough
    for the export thread to take it. One request in a batch pays the export's few
    milliseconds, which the loop would have lost to the export thread anyway; an idle loop
    never waits, since its export thread starts at once.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        policy: RedactionPolicy,
        max_queue_size: int = 2048,
        schedule_delay_millis: float = 5000,
        max_export_batch_size: int | None = None,
        warning: DropWarning | None = None,
    ) -> None:
        if max_queue_size <= 0:
            raise ValueError(f"max_queue_size must be positive, got {max_queue_size}")
        self.max_queue_size = max_queue_size
        self.warning = warning or DropWarning()
        self._waiting = 0
        self._lock = threading.Lock()
        self.exporter = exporter = RedactingSpanExporter(exporter, policy, self._exported, self.warning)
        self.max_export_batch_size = min(max_export_batch_size or max(1, max_queue_size // 2), max_queue_size)
        self._batch = BatchSpanProcessor(
            exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=self.max_export_batch_size,
        )
        self._woken_at = 0.0  # when the export thread was woken by a full batch, until it starts
        self._started = threading.Event()
        # The SDK processor empties its queue in a forked child; start counting afresh too.
        os.register_at_fork(after_in_child=self._reset)

    @property
    def waiting(self) -> int:
        """Spans admitted and not yet handed to the exporter."""
        return self._waiting

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0
        self._woken_at = 0.0
        self._started = threading.Event()

    def _exported(self, count: int) -> None:
        """Called by the exporter as an export starts: ``count`` spans leave the queue."""
        self._woken_at = 0.0
        self._started.set()
        with self._lock:
            self._waiting = max(0, self._waiting - count)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        with self._lock:
            waiting = self._waiting
            admitted = waiting < self.max_queue_size
            if admitted:
                self._waiting = waiting = waiting + 1
        if not admitted:
            self.warning.dropped(1, f"export queue full ({self.max_queue_size} spans waiting)")
            return
        try:
            item = self.exporter.prepare(span)
        except Exception as exc:  # a span that cannot be encoded is lost, the request is not
            with self._lock:
                self._waiting = max(0, self._waiting - 1)
            self.warning.dropped(1, f"encoding the span raised {type(exc).__name__}")
            return
        if waiting == self.max_export_batch_size:  # this span wakes the export thread
            self._started.clear()
            self._woken_at = _monotonic()
        elif self._woken_at and _monotonic() - self._woken_at > HANDOFF_AFTER:
            self._woken_at = 0.0
            self._started.wait(HANDOFF_TIMEOUT)  # see the class docs: the GIL hand-over
        # an EncodedSpan carries the span's context, which is all the SDK processor reads
        self._batch.on_end(item)  # type: ignore[arg-type]

    def shutdown(self) -> None:
        self._batch.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._batch.force_flush(timeout_millis)
