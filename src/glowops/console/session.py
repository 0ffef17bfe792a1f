"""Console sessions: server-side, revocable, bound to the ops token.

Who may use the console is the ops guard's rule (:mod:`glowops.ops_guard`): with
``GLOWOPS_OPS_TOKEN`` set, ``Authorization: Bearer <token>`` or a session opened by typing the
token into ``POST /ops/login`` (wrong tokens count in the same failed-attempt limiter as
``/metrics``); without a token, loopback clients only, who get a session at once (the forms
need a CSRF token tied to something the browser holds).

The cookie holds ``v2.<random id>``; the server keeps only the id's sha256, its expiry and the
fingerprint of the key derived from the token, in ``<GLOWOPS_STATE_DIR>/console-sessions.db``
(shared by the workers of one host). So a session ends for good when:

- the user logs out (its row is deleted: the cookie, replayed, opens nothing);
- the token changes (the fingerprint no longer matches; old rows are purged at start);
- it expires (12 h).

Without a token, sessions live in the process's memory. CSRF tokens are an HMAC of the session
with the derived key, compared in constant time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from glowops.ops_guard import ALLOW, DENY, LOOPBACK, Decision, OpsGuard, client_of
from glowops.settings import Settings
from glowops.state_secret import state_secret

COOKIE_NAME = "glowops_ops_session"
SESSION_SECONDS = 12 * 3600
DB_NAME = "console-sessions.db"
# Hosts where browsers refuse a ``Secure`` cookie over plain http (Chrome and Firefox accept it
# on ``localhost``, which they treat as a secure context, but not on an IP literal).
_INSECURE_OK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]"})
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, key TEXT NOT NULL, expires REAL NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Session:
    """A live console session (``nonce`` is the hash of its id, never the id itself)."""

    nonce: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class _MemoryRows:
    """Sessions of a process (no token: loopback only, nothing to share)."""

    def __init__(self) -> None:
        self._rows: dict[str, float] = {}
        self._lock = threading.Lock()

    def put(self, nonce: str, expires: float, now: float) -> None:
        with self._lock:
            self._rows = {k: v for k, v in self._rows.items() if v > now}
            self._rows[nonce] = expires

    def get(self, nonce: str) -> float | None:
        return self._rows.get(nonce)

    def delete(self, nonce: str) -> None:
        with self._lock:
            self._rows.pop(nonce, None)


class _SqliteRows:
    """Sessions in a SQLite file under the state directory, for every worker of the host."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(_SCHEMA)
            db.execute("DELETE FROM sessions WHERE key != ?", (key,))  # the token changed

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=5.0)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def put(self, nonce: str, expires: float, now: float) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            db.execute("INSERT INTO sessions (id, key, expires) VALUES (?, ?, ?)", (nonce, self.key, expires))

    def get(self, nonce: str) -> float | None:
        with self._db() as db:
            row = db.execute(
                "SELECT expires FROM sessions WHERE id = ? AND key = ?", (nonce, self.key)
            ).fetchone()
        return float(row[0]) if row else None

    def delete(self, nonce: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (nonce,))


class ConsoleSessions:
    """Issues, checks and revokes console sessions and their CSRF tokens."""

    def __init__(self, settings: Settings, guard: OpsGuard, clock: Callable[[], float] = time.time) -> None:
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        self.guard = guard
        self.clock = clock
        # A dedicated key: a leaked CSRF token or fingerprint says nothing about the ops token.
        # Several workers share one key and one session table (a session issued by one worker
        # is accepted by the others); without a token the key is then kept in the state dir.
        shared = bool(token) or settings.workers > 1
        if token:
            secret = token.encode()
        elif shared:
            secret = state_secret(settings.state_dir / "console.key").encode()
        else:
            secret = secrets.token_bytes(32)
        self._key = hmac.new(secret, b"glowops-console-session-v2", hashlib.sha256).digest()
        fingerprint = hashlib.sha256(self._key).hexdigest()[:16]
        self._rows: _MemoryRows | _SqliteRows = (
            _SqliteRows(settings.state_dir / DB_NAME, fingerprint) if shared else _MemoryRows()
        )

    @property
    def token_required(self) -> bool:
        """True when a token is configured (otherwise loopback clients only)."""
        return self.guard.token_required

    # --- sessions ----------------------------------------------------------------------------
    def issue(self, now: float | None = None) -> tuple[str, Session]:
        """A new session and its cookie value."""
        moment = self.clock() if now is None else now
        session_id = _b64(secrets.token_bytes(32))
        session = Session(_hash(session_id), moment + SESSION_SECONDS)
        self._rows.put(session.nonce, session.expires, moment)
        return f"v2.{session_id}", session

    def verify(self, value: str | None, now: float | None = None) -> Session | None:
        """The live session a cookie value stands for; None when unknown, revoked or expired."""
        if not value or not value.startswith("v2.") or len(value) > 128:
            return None
        nonce = _hash(value[3:])
        expires = self._rows.get(nonce)
        if expires is None or expires <= (self.clock() if now is None else now):
            return None
        return Session(nonce, expires)

    def revoke(self, session: Session) -> None:
        """End ``session`` on the server: its cookie opens nothing afterwards."""
        self._rows.delete(session.nonce)

    def session_of(self, request: Request) -> Session | None:
        return self.verify(request.cookies.get(COOKIE_NAME))

    def csrf_token(self, session: Session) -> str:
        return _b64(hmac.new(self._key, f"csrf.{session.nonce}".encode(), hashlib.sha256).digest())

    def csrf_ok(self, session: Session | None, presented: str) -> bool:
        return session is not None and hmac.compare_digest(
            presented.encode(), self.csrf_token(session).encode()
        )

    # --- who is asking -------------------------------------------------------------------------
    def decide(self, request: Request) -> Decision:
        """A live session, else the ops guard (Bearer token with the limiter, or loopback)."""
        if self.token_required and self.session_of(request) is not None:
            return ALLOW
        return self.guard.check(request.scope)

    def allowed(self, request: Request) -> bool:
        return self.decide(request).allowed

    def login(self, token: str, request: Request) -> Decision:
        """The login form's token, through the guard's limiter (401 / 429 / allowed)."""
        if not self.token_required:
            return ALLOW if client_of(request.scope) in LOOPBACK else DENY
        return self.guard.check_credential(token.encode(), client_of(request.scope))


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
