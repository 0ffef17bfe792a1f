"""What every Sentry event goes through before it leaves the process.

``before_send``, ``before_send_transaction`` and ``before_breadcrumb`` apply the one redaction
policy to the whole payload: request data, headers, cookies, query strings, exception
messages, local variables of every frame, breadcrumbs, extra and contexts. Sentry's own
scrubber only knows exact key names and leaves query strings and messages alone; this one
matches keys case- and separator-insensitively and scans every string for secrets.

``before_send`` also rate-limits per fingerprint, so a flood of one error sends a few events
a minute; the next event that passes says how many were suppressed (``suppressed_since_last``
in tags and extra) and ``glowops_sentry_events_suppressed`` counts them all.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from glowops.redaction import MASK, RedactionPolicy
from glowops.telemetry.metrics import metrics

__all__ = ["FingerprintLimiter", "SentryScrubber", "event_fingerprint", "exception_fingerprint", "safe_host"]

SUPPRESSED_METRIC = "glowops_sentry_events_suppressed"
HINT_FINGERPRINT = "glowops_fingerprint"
HINT_ADMITTED = "glowops_admitted"  # the request hook already asked the limiter
HINT_SUPPRESSED = "glowops_suppressed"
_WINDOW = 60.0
_MAX_TRACKED = 10_000
_REPR = re.compile(r"[bB]?(['\"])(.*)\1")
#: A host name or IP literal with an optional port: what a Host header may hold to be kept.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
UNSAFE_HOST = "invalid-host"


def safe_host(host: str) -> bool:
    """``host`` is a plain host name or IP literal, with an optional port (a ``Host`` header)."""
    return len(host) <= 260 and _HOST.fullmatch(host) is not None


def _unrepr(text: str) -> str:
    """``b'x-api-key'`` (a repr, as Sentry serialises local variables) -> ``x-api-key``."""
    match = _REPR.fullmatch(text)
    return match.group(2) if match else text


class FingerprintLimiter:
    """At most ``per_minute`` events per fingerprint in each one-minute window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute}")
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        # fingerprint -> [window start, events sent in window, suppressed since last sent]
        self._state: dict[str, list[float]] = {}

    def admit(self, fingerprint: str) -> int | None:
        """None when the event must be dropped (counted); else the suppressed count to report."""
        now = self.clock()
        with self._lock:
            state = self._state.get(fingerprint)
            if state is None:
                if len(self._state) >= _MAX_TRACKED:
                    self._forget_old(now)
                state = self._state[fingerprint] = [now, 0, 0]
            if now - state[0] >= _WINDOW:
                state[0], state[1] = now, 0
            if state[1] >= self.per_minute:
                state[2] += 1
                suppressed = True
            else:
                state[1] += 1
                reported, state[2] = int(state[2]), 0
                suppressed = False
        if suppressed:
            metrics.counter(SUPPRESSED_METRIC)
            return None
        return reported

    def _forget_old(self, now: float) -> None:
        for key in [k for k, s in self._state.items() if now - s[0] >= _WINDOW]:
            del self._state[key]
        if len(self._state) >= _MAX_TRACKED:
            self._state.clear()


def exception_fingerprint(exc: BaseException) -> str:
    """Type and place of an exception: the same bug gives the same fingerprint, whatever its message."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        where = f"{code.co_filename}:{code.co_name}:{tb.tb_lineno}"
        tb = tb.tb_next
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}@{where}"


def event_fingerprint(event: Mapping[str, Any]) -> str:
    """The fingerprint of an event built elsewhere (logging, threads): same shape as above."""
    explicit = event.get("fingerprint")
    if explicit and explicit != ["{{ default }}"]:
        return "|".join(str(part) for part in explicit)
    values = (event.get("exception") or {}).get("values") or []
    if values:
        last = values[-1]
        frames = (last.get("stacktrace") or {}).get("frames") or []
        where = ""
        if frames:
            frame = frames[-1]
            path = frame.get("abs_path") or frame.get("filename")
            where = f"{path}:{frame.get('function')}:{frame.get('lineno')}"
        return f"{last.get('module') or ''}.{last.get('type')}@{where}".lstrip(".")
    logentry = event.get("logentry") or {}
    return str(logentry.get("message") or event.get("message") or "")


class SentryScrubber:
    """The ``before_send`` / ``before_send_transaction`` / ``before_breadcrumb`` callbacks."""

    def __init__(self, policy: RedactionPolicy, limiter: FingerprintLimiter) -> None:
        self.policy = policy
        self.limiter = limiter

    def before_send(self, event: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any] | None:
        hint = hint or {}
        if hint.get(HINT_ADMITTED):
            suppressed = int(hint.get(HINT_SUPPRESSED) or 0)
        else:
            admitted = self.limiter.admit(hint.get(HINT_FINGERPRINT) or event_fingerprint(event))
            if admitted is None:
                return None
            suppressed = admitted
        if suppressed:
            event.setdefault("tags", {})["suppressed_since_last"] = str(suppressed)
            event.setdefault("extra", {})["suppressed_since_last"] = suppressed
        return self.scrub(event)

    def before_send_transaction(self, event: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any]:
        return self.scrub(event)

    def before_breadcrumb(self, crumb: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any]:
        redacted: dict[str, Any] = self.policy.redact(crumb)
        return redacted

    def scrub(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with the policy applied everywhere (one walk)."""
        request = event.get("request")
        if isinstance(request, dict):
            event["request"] = self._request(request)
        redacted: dict[str, Any] = self.policy.redact(event)
        self._mask_pairs(redacted, 0)
        return redacted

    def _mask_pairs(self, value: Any, depth: int) -> None:
        """Mask secret values in lists of (name, value) pairs, in place.

        Local variables hold headers as pairs, not as a mapping: an ASGI scope's
        ``[(b"x-api-key", b"...")]`` reaches Sentry as ``[["b'x-api-key'", "b'...'"]]``, where
        key-based redaction cannot see the name. Pairs whose name is a secret key are masked.
        """
        if depth > self.policy.max_depth:
            return
        if isinstance(value, dict):
            for item in value.values():
                if isinstance(item, dict | list):
                    self._mask_pairs(item, depth + 1)
            return
        if not isinstance(value, list):
            return
        for item in value:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                if self.policy.is_sensitive_key(_unrepr(item[0])):
                    item[1] = MASK
            elif isinstance(item, dict | list):
                self._mask_pairs(item, depth + 1)

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        """URL and query string as URLs (secret parameters masked by name), headers as headers."""
        out = dict(request)
        policy = self.policy
        if isinstance(out.get("url"), str):
            out["url"] = self._url(out["url"])
        query = out.get("query_string")
        if isinstance(query, str) and query:
            out["query_string"] = policy.redact_url("?" + query)[1:]
        headers = out.get("headers")
        if isinstance(headers, Mapping):
            out["headers"] = policy.redact_headers(headers)
        out.pop("data", None)  # request bodies never leave (max_request_body_size="never" too)
        return out

    def _url(self, url: str) -> str:
        """The URL rebuilt from its redacted parts (a Sentry SDK builds it from the Host header).

        No user part ever; a host that is not a plain host name (``jane.doe+audit@...``, one
        holding something the policy masks) becomes ``invalid-host``; path and query go through
        the policy's decoded pass; the fragment is dropped (browsers never send one).
        """
        try:
            parts = urlsplit(url)
            netloc = parts.netloc.rpartition("@")[2] if "@" not in parts.netloc else ""
        except ValueError:
            return MASK
        scheme = parts.scheme if parts.scheme in ("http", "https", "ws", "wss") else "http"
        policy = self.policy
        if not netloc or not safe_host(netloc) or policy.redact_text(netloc) != netloc:
            netloc = UNSAFE_HOST
        path = policy.redact_text(parts.path)
        query = policy.redact_url("?" + parts.query)[1:] if parts.query else ""
        return urlunsplit((scheme, netloc, path, query, ""))
