"""Request context: request_id, user_id and org_id for every log line of a request.

One context variable holds one small mutable :class:`RequestContext` per request. The
middleware sets it once; the app fills in the user and organisation (``glowops.bind_context``)
when it has authenticated the caller. Because the object is shared rather than copied, a value
bound in a sync dependency running in the thread pool, or in a task spawned by the request,
is seen by the middleware's access line and by every later log line of the request. Background
tasks inherit the context variable (contextvars are copied into tasks), so their lines carry
the request's IDs too.
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glowops.redaction import RedactionPolicy

REQUEST_ID_HEADER = "X-Request-ID"

#: The shapes of request IDs worth keeping: UUIDs, hex IDs and digests (8 to 128 digits), the
#: ids of proxies and load balancers (AWS ``Root=1-...;Parent=...;Sampled=1``, Google
#: ``<hex>/<span>;o=1``, Cloudflare rays ``<hex>-SJC``, ULIDs, nginx/Envoy/Heroku UUIDs and
#: hex) and short tokens (up to 64 of ``[A-Za-z0-9._:-]``, at least one letter).
_HEX_ID = re.compile(rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
                     rb"|(?=[0-9]*[A-Fa-f])[0-9A-Fa-f]{8,128}")
_PROXY_ID = re.compile(
    rb"(?:Root=)?1-[0-9a-f]{8}-[0-9a-f]{24}(?:;Parent=[0-9a-f]{16})?(?:;Sampled=[01])?"
    rb"|[0-9a-f]{32}/[0-9]{1,20}(?:;o=[01])?"
)
_SHORT_TOKEN = re.compile(rb"(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
#: Seven digits or more (single separators allowed) in a short token: a phone number, an SSN
#: or a card number that no detector can tell from its surroundings; such IDs are replaced.
_DIGIT_RUN = re.compile(rb"[0-9](?:[._:-]?[0-9]){6,}")
_DATE = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # req-2026-12-02: a date, not a phone


@dataclass(slots=True)
class RequestContext:
    """The identifiers of the request being served (None when unknown)."""

    request_id: str | None = None
    user_id: str | None = None
    org_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("glowops_request_context", default=None)


def current() -> RequestContext | None:
    """The context of the request being served, or None outside a request."""
    return _current.get()


def current_request_id() -> str | None:
    """The request ID of the request being served (for outgoing ``X-Request-ID`` headers)."""
    ctx = _current.get()
    return ctx.request_id if ctx is not None else None


def bind_context(user_id: object = None, org_id: object = None, request_id: str | None = None) -> None:
    """Attach the authenticated user and organisation to the current request.

    Call it from the auth dependency once the caller is known; every later log line, the
    access line and error reports carry the values. Arguments left as None keep their value.
    Outside a request (a worker, a script) it starts a context for the current task::

        glowops.bind_context(user_id=user.id, org_id=user.org_id)
    """
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext()
        _current.set(ctx)
    if user_id is not None:
        ctx.user_id = str(user_id)
    if org_id is not None:
        ctx.org_id = str(org_id)
    if request_id is not None:
        ctx.request_id = request_id


def enter(ctx: RequestContext) -> Token[RequestContext | None]:
    """Make ``ctx`` current (the middleware does this); returns the token for :func:`leave`."""
    return _current.set(ctx)


def leave(token: Token[RequestContext | None]) -> None:
    """Restore the context that was current before :func:`enter`."""
    _current.reset(token)


def request_id_verdict(raw: bytes, policy: RedactionPolicy) -> str | None:
    """Why ``raw`` cannot be kept as a request ID (``"shape"`` or ``"secret"``), None when it can.

    Kept: a safe shape (see ``_HEX_ID``, ``_PROXY_ID``, ``_SHORT_TOKEN``) in which the redaction
    policy finds nothing to mask. A request ID is logged, echoed in the response and tagged on
    errors and spans as it is, so anything else is replaced rather than masked.
    """
    if _HEX_ID.fullmatch(raw) is None and _PROXY_ID.fullmatch(raw) is None:
        if _SHORT_TOKEN.fullmatch(raw) is None:
            return "shape"
        if any(_DATE.fullmatch(run.group(0)) is None for run in _DIGIT_RUN.finditer(raw)):
            return "secret"
    text = raw.decode("ascii")
    return None if policy.redact_text(text) == text else "secret"


def accept_request_id(raw: bytes | None, policy: RedactionPolicy) -> tuple[str, str | None]:
    """(the request ID to use, why the client's was replaced or None).

    ``raw`` is kept when :func:`request_id_verdict` accepts it; otherwise, or without one, a
    fresh ID is used. The rejected value is dropped here: it never reaches a log line, a
    response header, a Sentry tag or a span.
    """
    if raw is None:
        return new_request_id(), None
    verdict = request_id_verdict(raw, policy)
    if verdict is None:
        return raw.decode("ascii"), None
    return new_request_id(), verdict


# Fresh IDs: 16 random hex digits per process + a 16-hex-digit counter, 32 hex digits in all
# (the shape of a trace ID). Five times cheaper than uuid4().hex and unique across processes.
_prefix = ""
_counter: itertools.count[int] = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


_reseed()
os.register_at_fork(after_in_child=_reseed)  # forked workers must not repeat the parent's IDs


def new_request_id() -> str:
    """A fresh, unique request ID (32 hex digits)."""
    return f"{_prefix}{next(_counter):016x}"
