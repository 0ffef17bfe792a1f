"""Passwords, login tokens, roles and the audit trail of refusals.

- Passwords: Argon2id (argon2-cffi defaults).
- Tokens: HS256 JWTs carrying user, org and a token id (``jti``), expiring after
  ``token_ttl_seconds``. A token proves who logs in, not what they may do: the role and the
  active flag are read from the database on every request (so a demotion or a deactivation
  takes effect at once), and ``POST /auth/logout`` puts the token id on a revocation list.
  With no ``GLOWOPS_SECRET_KEY`` a random key is generated once and kept in
  ``state_dir/secret.key`` (mode 0600), so tokens survive a restart.
- Roles are ordered viewer < preparer < approver < admin; each role has the permissions of
  the roles below it plus its own (:data:`PERMISSIONS`).
- Every refusal is one row in ``security_events`` and one increment of the matching
  ``security_*`` counter (:func:`record_security_event`).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

import glowops
from glowops.state_secret import state_secret
from prisma_glow_gateway.db import Database
from prisma_glow_gateway.models import SecurityEvent
from prisma_glow_gateway.settings import GatewaySettings

Role = Literal["viewer", "preparer", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "preparer", "approver", "admin")

_OWN_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"documents:read", "approvals:read", "assistant:use"}),
    "preparer": frozenset({"documents:write", "approvals:request"}),
    "approver": frozenset({"approvals:decide"}),
    "admin": frozenset({"users:manage"}),
}


def _cumulative() -> dict[str, frozenset[str]]:
    granted: set[str] = set()
    result: dict[str, frozenset[str]] = {}
    for role in ROLES:
        granted |= _OWN_PERMISSIONS[role]
        result[role] = frozenset(granted)
    return result


PERMISSIONS: dict[str, frozenset[str]] = _cumulative()
"""role -> every permission it holds."""

_hasher = PasswordHasher()
# A valid hash of a random password: unknown users are verified against it so that a login
# for an unknown e-mail takes as long as one with a wrong password (no user enumeration).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def signing_key(settings: GatewaySettings) -> str:
    """The configured secret, else the persisted random one (created on first use)."""
    configured = settings.secret_key.get_secret_value()
    if configured:
        return configured
    # Shared by every worker: a token signed by one is checked by another.
    return state_secret(Path(settings.state_dir) / "secret.key")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: identity from a verified token, role from the database."""

    user_id: str
    org_id: str
    role: str
    token_id: str = ""
    expires_at: float = 0.0

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


class TokenError(Exception):
    """A token was refused; ``reason`` is the security_auth_failed label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenService:
    """Issues and verifies login tokens."""

    algorithm = "HS256"

    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: str, org_id: str, role: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "sub": user_id,
            "org": org_id,
            "role": role,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm)

    def verify(self, token: str) -> Principal:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                options={"require": ["exp", "sub", "org", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("expired_token") from None
        except jwt.InvalidSignatureError:
            raise TokenError("forged_token") from None
        except jwt.InvalidTokenError:
            raise TokenError("malformed_token") from None
        # The role claim is informative only (the caller's role is read from the database).
        return Principal(
            user_id=str(claims["sub"]),
            org_id=str(claims["org"]),
            role=str(claims.get("role", "")),
            token_id=str(claims["jti"]),
            expires_at=float(claims["exp"]),
        )


# --- the audit trail ----------------------------------------------------------------------------
_COUNTERS = {
    "auth_failed": ("security_auth_failed", "reason"),
    "permission_denied": ("security_permission_denied", "action"),
    "rls_denied": ("security_rls_denied", "table"),
    "suspicious_activity": ("security_suspicious_activity", "kind"),
}
SecurityKind = Literal["auth_failed", "permission_denied", "rls_denied", "suspicious_activity", "mfa_failed"]


class SecurityAudit:
    """Writes the audit trail of refusals and counts them."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._log = glowops.get_logger("prisma_glow_gateway.security")

    async def record(
        self,
        kind: SecurityKind,
        reason: str,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        client: str | None = None,
        route: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Write one audit row and count it (``security_<kind>{<label>=reason}``)."""
        counter = _COUNTERS.get(kind)
        if counter is not None:
            glowops.metrics.counter(counter[0], tags={counter[1]: reason})
        async with self._db.system_tx() as session:
            session.add(
                SecurityEvent(
                    kind=kind,
                    reason=reason,
                    org_id=org_id,
                    user_id=user_id,
                    client=client,
                    route=route,
                    detail=detail or {},
                )
            )
        self._log.warning(
            "security_event", kind=kind, reason=reason, org_id=org_id, user_id=user_id, route=route
        )


class FailureWindow:
    """Counts failures per key in a sliding window; says when a key crosses the threshold.

    Used for repeated failed logins from one client or for one account: the crossing is
    reported once per window as suspicious activity.
    """

    def __init__(self, threshold: int = 5, window_seconds: float = 300.0, max_keys: int = 10_000) -> None:
        self.threshold = threshold
        self.window_seconds = window_seconds
        self.max_keys = max_keys  # bound: keys with a failure in the last window, at most this many
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = 0.0

    def add(self, key: str, now: float | None = None) -> bool:
        """Record a failure; True exactly when this one makes ``threshold`` in the window."""
        now = time.monotonic() if now is None else now
        if now >= self._next_sweep:
            # Keys whose last failure left the window count nothing: drop them.
            stale = [k for k, hits in self._hits.items() if now - hits[-1] > self.window_seconds]
            for k in stale:
                del self._hits[k]
            self._next_sweep = now + self.window_seconds / 4
        if len(self._hits) >= self.max_keys and key not in self._hits:
            self._hits.pop(next(iter(self._hits)))  # oldest key first (dicts keep order)
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window_seconds:
            hits.popleft()
        hits.append(now)
        return len(hits) == self.threshold
