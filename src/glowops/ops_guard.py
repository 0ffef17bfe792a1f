"""The one guard of every ops surface: ``/metrics``, health details, the Teams relay, the
console and ``/diagnostics``.

Rules:

- With ``GLOWOPS_OPS_TOKEN`` set (at least 32 characters, see :data:`MIN_TOKEN_LENGTH`), a
  caller presents ``Authorization: Bearer <token>`` (compared in constant time); the console
  also takes it once in its login form. Loopback is no credential then.
- Without a token, only loopback clients are served: the ops-port deployment, or a developer's
  machine. There is nothing to guess, so nothing is counted.
- Every wrong token counts in one :class:`AttemptLimiter` shared by all the surfaces of an app:
  past ``per_client`` failures from one address, or ``overall`` failures from everyone, within
  ``window`` seconds, every request presenting a credential gets ``429`` with ``Retry-After``,
  before its token is even compared (so a correct guess is not recognisable either). The check
  and the count happen with no ``await`` in between: parallel requests cannot slip through.
  A request presenting no credential is not a guess (a Kubernetes probe): it is never limited.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from glowops.problems import problem_response, send_problem
from glowops.settings import Settings

__all__ = [
    "ALLOW",
    "DENY",
    "LOOPBACK",
    "MIN_TOKEN_LENGTH",
    "AttemptLimiter",
    "Decision",
    "OpsGuard",
    "client_of",
]

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MIN_TOKEN_LENGTH = 32
_CHALLENGE = 'Bearer realm="glowops-ops"'
_MAX_CLIENTS = 10_000  # addresses tracked at once; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class Decision:
    """The guard's answer: allowed, or refused with 401 / 429 (and seconds to wait)."""

    allowed: bool
    status: int = 200
    retry_after: int = 0

    @property
    def limited(self) -> bool:
        return self.status == 429


ALLOW = Decision(True)
DENY = Decision(False, 401)


class AttemptLimiter:
    """Failed credential attempts in a sliding window, per client address and overall.

    ``clock`` is injectable (tests drive it); the lock makes it safe from threads too.
    """

    def __init__(
        self,
        per_client: int = 10,
        overall: int = 50,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self.clock = clock
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()
        self._lock = threading.RLock()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def _wait(self, times: deque[float], limit: int, now: float) -> float:
        self._trim(times, now)
        if len(times) < limit:
            return 0.0
        return times[len(times) - limit] + self.window - now

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            now = self.clock()
            mine = self._clients.get(client)
            wait = self._wait(self._all, self.overall, now)
            if mine is not None:
                wait = max(wait, self._wait(mine, self.per_client, now))
            return wait

    def record_failure(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            times = self._clients.pop(client, None) or deque()
            times.append(now)
            self._clients[client] = times  # most recent last
            while len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
            self._all.append(now)
            self._trim(self._all, now)

    def check_and_count(self, client: str, correct: Callable[[], bool]) -> Decision:
        """Refuse while limited; otherwise run ``correct`` and count a failure. One critical
        section, so parallel callers see each other's failures."""
        with self._lock:
            wait = self.retry_after(client)
            if wait > 0:
                return Decision(False, 429, max(1, math.ceil(wait)))
            if correct():
                return ALLOW
            self.record_failure(client)
            return DENY


def client_of(scope: Scope) -> str:
    client: Any = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer(scope: Scope) -> bytes | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    for key, value in headers:
        if key == b"authorization":
            scheme, _, credential = value.partition(b" ")
            # Another scheme is a wrong credential (counted), never the token itself.
            return credential.strip() if scheme.lower() == b"bearer" else b""
    return None


class OpsGuard:
    """Decides whether a request may see an ops surface (see the module doc)."""

    def __init__(self, settings: Settings, limiter: AttemptLimiter | None = None) -> None:
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        self._token = token.encode()
        self.limiter = limiter or AttemptLimiter()

    @property
    def token_required(self) -> bool:
        return bool(self._token)

    def check_credential(self, presented: bytes | None, client: str) -> Decision:
        """The decision for a credential (None: none presented) from ``client``."""
        if not self._token:
            return ALLOW if client in LOOPBACK else DENY
        if presented is None:
            return DENY  # not a guess: never counted, never limited
        return self.limiter.check_and_count(client, lambda: hmac.compare_digest(presented, self._token))

    def check(self, scope: Scope) -> Decision:
        """The decision for a request's ``Authorization: Bearer`` header (or loopback rule)."""
        return self.check_credential(_bearer(scope), client_of(scope))

    def allows(self, scope: Scope) -> bool:
        return self.check(scope).allowed

    # --- answers ---------------------------------------------------------------------------------
    def _detail(self, decision: Decision, what: str) -> str:
        if decision.limited:
            return f"Too many wrong ops tokens; try again in {decision.retry_after} s."
        if self._token:
            return f"{what} needs Authorization: Bearer <GLOWOPS_OPS_TOKEN>."
        return f"{what} answers loopback clients only (no GLOWOPS_OPS_TOKEN is set)."

    def _headers(self, decision: Decision) -> dict[str, str]:
        if decision.limited:
            return {"Retry-After": str(decision.retry_after)}
        return {"WWW-Authenticate": _CHALLENGE}

    def response(self, decision: Decision, what: str = "This ops endpoint") -> Response:
        """The refusal as a Starlette response (problem+json, 401 or 429)."""
        return problem_response(
            decision.status, self._detail(decision, what), headers=self._headers(decision)
        )

    async def refuse(
        self, scope: Scope, receive: Receive, send: Send, decision: Decision | None = None, what: str = ""
    ) -> None:
        """The refusal on a raw ASGI channel."""
        decision = decision or self.check(scope)
        headers = [(k.lower().encode(), v.encode()) for k, v in self._headers(decision).items()]
        await send_problem(
            send, decision.status, self._detail(decision, what or "This ops endpoint"), headers=headers
        )

    async def guard_request(self, request: Request, what: str) -> Response | None:
        """None when ``request`` may pass, else the refusal to return."""
        decision = self.check(request.scope)
        return None if decision.allowed else self.response(decision, what)
