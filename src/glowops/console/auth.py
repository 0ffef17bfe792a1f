"""Who may use the console: the ops token, as a Bearer header or through a signed session cookie.

Rules (the same trust model as ``/metrics``, see :mod:`glowops.telemetry.ops_auth`):

- With ``GLOWOPS_OPS_TOKEN`` set, a request is allowed when it carries
  ``Authorization: Bearer <token>`` or a session cookie issued by ``POST /ops/login`` after
  the token was typed in. Pages redirect to the login form; the JSON API answers 401.
- Without a token, only loopback clients are served (a developer's machine, or the ops port
  deployment); they get a session cookie without logging in, because the forms still need a
  CSRF token tied to something the browser holds.

The cookie holds ``v1.<expires>.<nonce>.<signature>``: an HMAC-SHA256 over the first three
parts with a key derived from the token (never the token itself), so changing the token logs
every session out. Without a token the key is random: per process, or under several workers
kept in ``state_dir/console.key`` so that every worker accepts the sessions of the others.
CSRF tokens are an HMAC of the session nonce with the same key, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from glowops.settings import Settings
from glowops.state_secret import state_secret

COOKIE_NAME = "glowops_ops_session"
SESSION_SECONDS = 12 * 3600
_LOOPBACK_CLIENTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Hosts where browsers refuse a ``Secure`` cookie over plain http (Chrome and Firefox accept it
# on ``localhost``, which they treat as a secure context, but not on an IP literal).
_INSECURE_OK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True, slots=True)
class Session:
    """A verified console session."""

    nonce: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ConsoleAuth:
    """Issues and checks console sessions, CSRF tokens and the ops token."""

    def __init__(self, settings: Settings) -> None:
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        self._token = token.encode()
        # Derive a dedicated key: a leaked session signature says nothing about the token.
        secret = self._token or (
            state_secret(settings.state_dir / "console.key").encode()
            if settings.workers > 1
            else secrets.token_bytes(32)
        )
        self._key = hmac.new(secret, b"glowops-console-session-v1", hashlib.sha256).digest()

    @property
    def token_required(self) -> bool:
        """True when a token is configured (otherwise loopback clients only)."""
        return bool(self._token)

    # --- the token -------------------------------------------------------------------------
    def token_matches(self, presented: str) -> bool:
        """Constant-time comparison with the configured token (False when none is set)."""
        if not self._token:
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    def bearer_ok(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    @staticmethod
    def from_loopback(request: Request) -> bool:
        client = request.client
        return client is not None and client.host in _LOOPBACK_CLIENTS

    # --- sessions ----------------------------------------------------------------------------
    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, now: float | None = None) -> tuple[str, Session]:
        """A new session and its cookie value."""
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        nonce = _b64(secrets.token_bytes(18))
        payload = f"v1.{expires}.{nonce}"
        return f"{payload}.{self._sign(payload)}", Session(nonce, expires)

    def verify(self, value: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value stands for, or None when forged, malformed or expired."""
        if not value or value.count(".") != 3:
            return None
        version, expires_text, nonce, signature = value.split(".")
        payload = f"{version}.{expires_text}.{nonce}"
        if version != "v1" or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            expires = int(expires_text)
        except ValueError:
            return None
        if expires <= (now if now is not None else time.time()):
            return None
        return Session(nonce, expires)

    def session_of(self, request: Request) -> Session | None:
        return self.verify(request.cookies.get(COOKIE_NAME))

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Session | None, presented: str) -> bool:
        return session is not None and hmac.compare_digest(
            presented.encode(), self.csrf_token(session).encode()
        )

    # --- who is asking -------------------------------------------------------------------------
    def allowed(self, request: Request) -> bool:
        """Bearer token or valid session (token set); loopback (no token)."""
        if not self.token_required:
            return self.from_loopback(request)
        return self.bearer_ok(request) or self.session_of(request) is not None


def cookie_secure(request: Request) -> bool:
    """Whether the session cookie gets ``Secure``.

    Always over https. Over plain http only on a loopback IP literal it does not, because the
    browser would drop it and the login would loop; on ``localhost`` browsers accept it. A
    console served over plain http on another host keeps ``Secure`` (so the session never
    travels in clear) and the login page says to put TLS in front.
    """
    if request.url.scheme == "https":
        return True
    return (request.url.hostname or "") not in _INSECURE_OK_HOSTS
