"""Sentry error tracking from :class:`~glowops.settings.Settings`.

The DSN is the service's own (``GATEWAY_SENTRY_DSN`` for the gateway) before ``SENTRY_DSN``;
no DSN, no Sentry. Environment from ``SENTRY_ENVIRONMENT`` (default ``development``), release
from ``SENTRY_RELEASE`` or else the git revision the process started from.

Choices, and why:

- ``traces_sample_rate`` is 0 by default (``SENTRY_TRACES_SAMPLE_RATE`` to change it): traces
  go through OpenTelemetry, one span per request. Sentry's tracing at 1.0 would build a second
  trace of every request, which cost +351 µs per request here (OpenTelemetry's span costs
  about 37 µs) and duplicates what the collector already has. Events still carry the
  OpenTelemetry trace_id as a tag and as their trace context, so an error links to its trace.
- The web-framework integrations (Starlette, FastAPI) and every other auto-enabling one are
  off: the glowops middleware reports errors itself through :class:`ErrorReporterHook`, once,
  with its request ID, and a request that does not fail costs Sentry nothing. Default
  integrations stay (excepthook, threading, logging breadcrumbs, dedupe); logging creates
  breadcrumbs only, never events, since unhandled errors are already reported by the hook.
- ``send_default_pii`` off (the SDK default), request bodies never captured
  (``max_request_body_size="never"``),
  local variables kept for debugging but scrubbed, like everything else, by
  :mod:`glowops.telemetry.sentry_scrub`. The user is sent as an ID only.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import sentry_sdk
from opentelemetry import trace
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport
from sentry_sdk.utils import event_from_exception
from starlette.types import Scope

import glowops
from glowops.redaction import default_policy
from glowops.settings import Settings
from glowops.telemetry import context as request_context
from glowops.telemetry.hooks import UNMATCHED_ROUTE
from glowops.telemetry.sentry_scrub import (
    HINT_ADMITTED,
    HINT_FINGERPRINT,
    HINT_SUPPRESSED,
    FingerprintLimiter,
    SentryScrubber,
    exception_fingerprint,
    safe_host,
)

__all__ = [
    "ErrorReporterHook",
    "create_hook",
    "flush_error_tracking",
    "resolve_release",
    "send_test_error",
    "sentry_options",
    "setup_error_tracking",
]

_log = logging.getLogger("glowops.errors")
_lock = threading.Lock()
_active: tuple[Any, ErrorReporterHook, Any] | None = None  # (configuration, hook, client)


def git_revision() -> str | None:
    """``git rev-parse --short HEAD`` of the working directory, or None (quietly) without git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = result.stdout.strip()
    return revision if result.returncode == 0 and revision else None


def resolve_release(settings: Settings) -> str | None:
    """``SENTRY_RELEASE``, else the git revision, else None."""
    return settings.sentry_release or git_revision()


def sentry_options(settings: Settings, dsn: str, scrubber: SentryScrubber) -> dict[str, Any]:
    """The keyword arguments of ``sentry_sdk.init`` / ``sentry_sdk.Client`` (see module docs)."""
    rate = settings.sentry_traces_sample_rate
    return {
        "dsn": dsn,
        "environment": settings.environment,
        "release": resolve_release(settings),
        "traces_sample_rate": rate if rate > 0 else None,  # None: no Sentry tracing machinery at all
        # send_default_pii stays off: it is the SDK's default, and passing the flag is deprecated
        # from sentry-sdk 2.7x on (data_collection replaces it; off by default too).
        "include_local_variables": True,
        "max_request_body_size": "never",
        "auto_enabling_integrations": False,
        "integrations": [LoggingIntegration(level=logging.INFO, event_level=None)],
        "before_send": scrubber.before_send,
        "before_send_transaction": scrubber.before_send_transaction,
        "before_breadcrumb": scrubber.before_breadcrumb,
        "attach_stacktrace": False,
    }


def _scrubber(settings: Settings) -> SentryScrubber:
    return SentryScrubber(default_policy(settings), FingerprintLimiter(settings.sentry_rate_limit_per_minute))


def setup_error_tracking(settings: Settings) -> ErrorReporterHook | None:
    """Sentry for the process, once: join the service's own client, or initialise one.

    When the service already initialised Sentry (``sentry_sdk.init`` before ``instrument()``),
    glowops joins that client (``GLOWOPS_SENTRY_MODE=auto``, the default, or ``attach``): its
    scrubbing runs after the service's own ``before_send`` hooks and its events carry the request
    ID, but the service's DSN, environment, release, sampling and integrations stay as they are.
    ``replace`` re-initialises over it with glowops' options. Otherwise Sentry is initialised
    from the settings' DSN; no DSN (and no client to join), no Sentry: None.
    """
    global _active
    client = sentry_sdk.get_client()
    with _lock:
        ours = _active is not None and _active[2] is client
        sending = _sends(client)
        if sending and not ours and settings.sentry_mode != "replace":
            return _join(settings, client)
        if settings.sentry_mode == "attach" and not sending:
            _log.warning(
                "GLOWOPS_SENTRY_MODE=attach but the service initialised no Sentry client: "
                "errors are not reported"
            )
            return None
        dsn = settings.effective_sentry_dsn
        if not dsn:
            return None
        key = (
            dsn,
            settings.environment,
            settings.sentry_release,
            settings.sentry_traces_sample_rate,
            settings.sentry_rate_limit_per_minute,
            tuple(settings.redaction_extra_keys),
            settings.redaction_hmac_key,
        )
        if _active is not None and _active[0] == key and ours and client.is_active():
            return _active[1]
        scrubber = _scrubber(settings)
        sentry_sdk.init(**sentry_options(settings, dsn, scrubber))
        hook = ErrorReporterHook(scrubber.limiter)
        _active = (key, hook, sentry_sdk.get_client())
        return hook


def _sends(client: Any) -> bool:
    """True for a client that sends events: initialised with a DSN and not closed (a closed
    client stays the global one, without its transport)."""
    return bool(client.is_active()) and getattr(client, "transport", None) is not None


def _join(settings: Settings, client: Any) -> ErrorReporterHook:
    """Add glowops' scrubbing and request tagging to the service's own client (once per client).

    The client reads ``before_send`` & co. from its ``options`` at every event, so chaining them
    there takes effect at once; the service's hook runs first, glowops' scrubbing last, so what
    leaves the process has passed the redaction policy whatever the service's hook added.
    """
    global _active
    if _active is not None and _active[0] == ("joined", id(client)) and _active[2] is client:
        return _active[1]
    scrubber = _scrubber(settings)
    options = client.options
    for name, ours in (
        ("before_send", scrubber.before_send),
        ("before_send_transaction", scrubber.before_send_transaction),
        ("before_breadcrumb", scrubber.before_breadcrumb),
    ):
        options[name] = _chain(options.get(name), ours)
    sentry_sdk.get_global_scope().add_event_processor(_tag_with_request)  # type: ignore[arg-type]
    hook = ErrorReporterHook(scrubber.limiter)
    _active = (("joined", id(client)), hook, client)
    _log.info(
        "Sentry: joined the service's own client (environment %s); glowops scrubs its events",
        options.get("environment"),
    )
    return hook


def _chain(first: Any, then: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``first`` (the service's hook, may be None), then ``then`` on what it kept."""
    if first is None:
        return then

    def chained(item: Any, hint: Any) -> Any:
        kept = first(item, hint)
        return None if kept is None else then(kept, hint)

    return chained


def _tag_with_request(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """The request ID (and org) of the request being served, on every event of a joined client."""
    ctx = request_context.current()
    if ctx is not None and ctx.request_id:
        tags = event.setdefault("tags", {})
        tags.setdefault("request_id", ctx.request_id)
        if ctx.org_id:
            tags.setdefault("org_id", ctx.org_id)
    return event


def create_hook(settings: Settings) -> ErrorReporterHook | None:
    """The middleware's error-reporter hook (see :mod:`glowops.telemetry.hooks`)."""
    return setup_error_tracking(settings)


# --- the per-request hook ---------------------------------------------------------------------------
class ErrorReporterHook:
    """Reports each unhandled exception, and each 5xx answer without one, once; 4xx never.

    A request that succeeds costs one comparison. Events carry tags request_id, trace_id,
    org_id and route, the user as ``{"id": ...}`` only, and the request (method, URL, query,
    headers, cookie names), all scrubbed before sending. A flood of one error is cut down by
    the per-fingerprint limiter before the event is even built.
    """

    def __init__(self, limiter: FingerprintLimiter) -> None:
        self.limiter = limiter

    def start(self, scope: Scope, request_id: str) -> Any:
        return scope

    def finish(self, handle: Any, status: int, route: str, exc: BaseException | None) -> None:
        if exc is None and status < 500:
            return
        if handle is None or not sentry_sdk.get_client().is_active():
            return
        scope: Scope = handle
        method = scope["method"]
        fingerprint = exception_fingerprint(exc) if exc is not None else f"http-{status}|{method}|{route}"
        suppressed = self.limiter.admit(fingerprint)
        if suppressed is None:
            return
        event: dict[str, Any]
        hint: dict[str, Any]
        client = sentry_sdk.get_client()
        if exc is not None:
            event, hint = event_from_exception(  # type: ignore[assignment]
                exc, client_options=client.options, mechanism={"type": "glowops", "handled": False}
            )
        else:
            event = {
                "level": "error",
                "message": f"HTTP {status} answered to {method} {route}",
                "fingerprint": ["http-5xx", method, route, str(status)],
            }
            hint = {}
        hint.update({HINT_ADMITTED: True, HINT_SUPPRESSED: suppressed, HINT_FINGERPRINT: fingerprint})
        event["request"] = _request_data(scope)
        _add_context(event, status, route)
        sentry_sdk.capture_event(event, hint=hint)  # type: ignore[arg-type]


def _request_data(scope: Scope) -> dict[str, Any]:
    """Sentry's request interface from the ASGI scope (scrubbed later in before_send)."""
    headers: dict[str, str] = {}
    cookies = ""
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name == "cookie":
            cookies = value
            continue
        headers[name] = value
    # The Host header is the client's word: used only when it is a host name (and port), never
    # when it carries a user part, an address or anything else the client chose to put there.
    host = headers.get("host", "")
    if not safe_host(host):
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server and server[1] else server[0] if server else "localhost"
    url = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope['path']}"
    data: dict[str, Any] = {
        "method": scope["method"],
        "url": url,
        "query_string": (scope.get("query_string") or b"").decode("latin-1"),
        "headers": headers,
    }
    if cookies:
        data["cookies"] = cookies
    return data


def _add_context(event: dict[str, Any], status: int, route: str) -> None:
    ctx = request_context.current()
    tags: dict[str, Any] = event.setdefault("tags", {})
    if ctx is not None:
        if ctx.request_id:
            tags["request_id"] = ctx.request_id
        if ctx.org_id:
            tags["org_id"] = ctx.org_id
        if ctx.user_id:
            event["user"] = {"id": ctx.user_id}  # never the e-mail: see the redaction policy
    tags["route"] = route if route != UNMATCHED_ROUTE else "unmatched"
    tags["http.status_code"] = str(status)
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        trace_id = format(span_context.trace_id, "032x")
        tags["trace_id"] = trace_id
        # the OpenTelemetry trace as the event's trace context: Sentry links the two
        event.setdefault("contexts", {})["trace"] = {
            "trace_id": trace_id,
            "span_id": format(span_context.span_id, "016x"),
            "op": "http.server",
        }


# --- glowops doctor --send-test-error ---------------------------------------------------------------
class _CheckedTransport(Transport):
    """Sends each envelope synchronously and remembers the HTTP answer (for the doctor)."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.status: int | None = None
        self.error: str | None = None
        self.body = ""

    def capture_envelope(self, envelope: Envelope) -> None:
        if self.parsed_dsn is None:
            self.error = "no DSN"
            return
        auth = self.parsed_dsn.to_auth(f"glowops/{glowops.__version__}")
        headers = {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth.to_header()}
        try:
            response = httpx.post(
                auth.get_api_url(), content=envelope.serialize(), headers=headers, timeout=10
            )
        except httpx.HTTPError as err:
            self.error = f"{type(err).__name__}: {err}"
            return
        self.status = response.status_code
        self.body = response.text[:200]


def _raise_test_error() -> None:
    raise RuntimeError("glowops doctor --send-test-error: this test event can be resolved")


def send_test_error(settings: Settings) -> tuple[bool, str]:
    """Send one test event through the real pipeline (scrubbing, limits) and report the answer.

    Uses a client of its own, so the process's Sentry setup is left untouched. Returns
    ``(True, "...accepted...")`` when the DSN answered 2xx, else ``(False, reason)``.
    """
    dsn = settings.effective_sentry_dsn
    if not dsn:
        return False, "no Sentry DSN configured (set GATEWAY_SENTRY_DSN or SENTRY_DSN)"
    where = _dsn_place(dsn)
    options = sentry_options(settings, dsn, _scrubber(settings))
    options.update(transport=_CheckedTransport, default_integrations=False, integrations=[])
    client = sentry_sdk.Client(**options)
    transport = client.transport
    try:
        scope = sentry_sdk.Scope(client=client)
        scope.set_tag("glowops.test", "doctor")
        try:
            _raise_test_error()
        except RuntimeError as exc:
            # straight to this client: Scope.capture_* would use the process's current client
            event, hint = event_from_exception(exc, client_options=client.options)
            event_id = client.capture_event(event, hint=hint, scope=scope)
    finally:
        client.close(timeout=2)
    if not isinstance(transport, _CheckedTransport) or event_id is None:
        return False, f"the test event was dropped before sending to {where}"
    if transport.status is None:
        return False, f"could not reach Sentry at {where}: {transport.error}"
    if 200 <= transport.status < 300:
        return True, f"Sentry at {where} accepted the test event {event_id} (HTTP {transport.status})"
    answer = f"HTTP {transport.status} {transport.body}".rstrip()
    return False, f"Sentry at {where} refused the test event: {answer}"


def _dsn_place(dsn: str) -> str:
    """host/project of a DSN, without its key."""
    parts = urlsplit(dsn)
    return f"{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def flush_error_tracking(timeout: float = 2.0) -> None:
    """Send the events Sentry's transport still holds (at application shutdown)."""
    sentry_sdk.flush(timeout=timeout)


def close_error_tracking(timeout: float = 2.0) -> None:
    """Flush and close the process's Sentry client (at shutdown, and between tests)."""
    global _active
    with _lock:
        _active = None
    sentry_sdk.get_client().close(timeout=timeout)
