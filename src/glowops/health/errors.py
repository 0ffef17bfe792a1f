"""Exceptions become fixed, client-safe messages; the exception text only goes to the log.

An exception from a driver carries connection strings, host names and user names in its text
(``could not connect to db.internal:5432 as user app``). Health output is seen by uptime
monitors and load balancers, so it only ever carries one of the messages below. The
classification walks the whole ``__cause__``/``__context__`` chain because drivers wrap the
operating system's error (redis-py ``ConnectionError`` around ``ConnectionRefusedError``,
SQLAlchemy ``DBAPIError`` around asyncpg's error around ``socket.gaierror``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator

from glowops.health.model import CheckFailed

TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection refused"
CONNECTION_RESET = "connection reset"
CONNECTION_FAILED = "connection failed"
DNS_FAILURE = "dns failure"
TLS_ERROR = "tls error"
AUTHENTICATION_FAILED = "authentication failed"
NOT_CONFIGURED = "not configured"
PERMISSION_DENIED = "permission denied"
DATABASE_NOT_FOUND = "database not found"
DATABASE_ERROR = "database error"
CHECK_ERROR = "check error"


def unexpected_status(code: int) -> str:
    """The fixed message of an HTTP answer that is neither success nor an auth refusal."""
    return f"unexpected status {int(code)}"


# Names of driver exceptions that mean "the credentials were refused", matched by class name
# so that this module imports no driver (asyncpg's InvalidPasswordError, redis-py's
# AuthenticationError, AuthenticationWrongNumberOfArgsError...).
_AUTH_CLASS_WORDS = ("password", "authentication", "authorization")
_AUTH_TEXT = ("noauth", "wrongpass", "invalid password", "authentication failed", "access denied")
_TIMEOUT_CLASS_WORDS = ("timeout",)
_DATABASE_MODULES = frozenset({"asyncpg", "sqlalchemy", "sqlite3", "psycopg", "psycopg2", "aiosqlite"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> str:
    """The fixed message for ``exc`` (``timeout``, ``connection refused``, ``dns failure``...)."""
    chain = list(_chain(exc))
    for err in chain:
        if isinstance(err, CheckFailed):
            return err.message
    for err in chain:
        if isinstance(err, socket.gaierror):
            return DNS_FAILURE
        if isinstance(err, PermissionError):
            return PERMISSION_DENIED
        if isinstance(err, ConnectionRefusedError):
            return CONNECTION_REFUSED
        if isinstance(err, ssl.SSLError | ssl.CertificateError):
            return TLS_ERROR
    for err in chain:
        name = type(err).__name__.lower()
        if any(word in name for word in _AUTH_CLASS_WORDS):
            return AUTHENTICATION_FAILED
        if isinstance(err, TimeoutError | asyncio.TimeoutError | socket.timeout) or any(
            word in name for word in _TIMEOUT_CLASS_WORDS
        ):
            return TIMEOUT
    for err in chain:
        # Redis answers "-NOAUTH ..." / "-WRONGPASS ..." as a plain ResponseError.
        text = str(err).lower()
        if any(marker in text for marker in _AUTH_TEXT):
            return AUTHENTICATION_FAILED
    for err in chain:
        if isinstance(err, ConnectionResetError | BrokenPipeError | ConnectionAbortedError | EOFError):
            return CONNECTION_RESET
        if "refused" in str(err).lower():
            return CONNECTION_REFUSED
    for err in chain:
        if isinstance(err, OSError) or "connect" in type(err).__name__.lower():
            return CONNECTION_FAILED
    for err in chain:
        if "catalogname" in type(err).__name__.lower():  # asyncpg InvalidCatalogNameError
            return DATABASE_NOT_FOUND
    if any(type(err).__module__.split(".")[0] in _DATABASE_MODULES for err in chain):
        return DATABASE_ERROR
    return CHECK_ERROR


def detail_of(exc: BaseException) -> str:
    """The full detail for the log: every exception of the chain, ``Type: text``."""
    parts = []
    for err in _chain(exc):
        if isinstance(err, CheckFailed) and err.detail:
            parts.append(f"{type(err).__name__}: {err.message} ({err.detail})")
        else:
            parts.append(f"{type(err).__name__}: {err}")
    return " <- ".join(parts)
