"""A dependency that is frozen, down or exhausted answers a fast 503, not a hang or a 500.

Every dependency call made while a request runs has a deadline (:mod:`prisma_glow_gateway.db`
for PostgreSQL and SQLite, :mod:`prisma_glow_gateway.state` for Redis and HTTP clients). When
one expires, or the dependency refuses the connection, the exception that surfaces is mapped
here to a 503 problem with ``Retry-After``, counted in ``dependency_unavailable_total``
(``dependency``, ``reason``) and logged once as a warning: the service is healthy, its
dependency is not, so it is not an error report. :class:`RequestDeadline` is the one deadline
above them all.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from types import TracebackType

from starlette.types import ASGIApp, Message, Receive, Scope, Send

import glowops
from glowops.problems import send_problem

RETRY_AFTER_SECONDS = 5
_log = glowops.get_logger("prisma_glow_gateway.outages")
# The modules whose frames say which dependency a bare TimeoutError or OSError came from.
_MODULES = (
    ("asyncpg", "database"),
    ("sqlalchemy", "database"),
    ("redis", "redis"),
    ("httpx", "http"),
    ("httpcore", "http"),
    ("aiosqlite", "database"),
)
_QUERY_CANCELED = "57014"  # statement_timeout expired on the server
_LOCK_NOT_AVAILABLE = "55P03"
_CONNECTION_CLASS = "08"  # connection exceptions


class DependencyUnavailable(Exception):
    """Raise from code that knows a dependency is unavailable (answered as a 503)."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable ({reason})")
        self.dependency = dependency
        self.reason = reason


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 8:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                todo.append(linked)


def _origin(exc: BaseException) -> str | None:
    """The dependency whose library raised ``exc`` (innermost frame first)."""
    frames = []
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    for module in reversed(frames):
        for prefix, dependency in _MODULES:
            if module == prefix or module.startswith(prefix + "."):
                return dependency
    return None


def classify(exc: BaseException) -> tuple[str, str] | None:
    """``(dependency, reason)`` when ``exc`` means a dependency is unavailable, else None."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    for err in _chain(exc):
        if isinstance(err, DependencyUnavailable):
            return err.dependency, err.reason
        if isinstance(err, PoolTimeout):
            return "database", "pool_exhausted"
        if isinstance(err, RedisTimeoutError):
            return "redis", "timeout"
        if isinstance(err, RedisConnectionError):
            return "redis", "unreachable"
        sqlstate = str(getattr(err, "sqlstate", "") or "")
        if sqlstate in (_QUERY_CANCELED, _LOCK_NOT_AVAILABLE):
            return "database", "timeout"
        if sqlstate.startswith(_CONNECTION_CLASS):
            return "database", "unreachable"
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return "database", "unreachable"
        if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
            return "database", "busy"
        if isinstance(err, TimeoutError):
            return _origin(err) or "unknown", "timeout"
        if isinstance(err, OSError):
            origin = _origin(err)
            if origin is not None:
                return origin, "unreachable"
    # asyncpg reports a connection lost mid-query with its own class names
    names = {type(err).__name__ for err in _chain(exc)}
    if names & {"ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError"}:
        return "database", "unreachable"
    return None


# Every (dependency, reason) this module can record: exported at zero from the start, as
# Prometheus advises for known label values, so the Operations panel shows 0, not "no data",
# and increase() has a first sample before the first outage.
KNOWN_OUTAGES: tuple[tuple[str, str], ...] = (
    ("database", "pool_exhausted"),
    ("database", "timeout"),
    ("database", "unreachable"),
    ("database", "busy"),
    ("redis", "timeout"),
    ("redis", "unreachable"),
    ("request", "deadline"),
)


def export_known_outages() -> None:
    """Create the counter's known series at zero (safe to call again)."""
    for dependency, reason in KNOWN_OUTAGES:
        glowops.metrics.counter(
            "dependency_unavailable", 0.0, tags={"dependency": dependency, "reason": reason}
        )


def record(dependency: str, reason: str, route: str) -> None:
    """Count and log one request refused because ``dependency`` is unavailable."""
    glowops.metrics.counter("dependency_unavailable", tags={"dependency": dependency, "reason": reason})
    _log.warning("dependency_unavailable", dependency=dependency, reason=reason, route=route)


def detail_for(dependency: str) -> str:
    what = {"database": "The database", "redis": "Redis", "http": "An upstream service"}.get(
        dependency, "A service this request needs"
    )
    return f"{what} is not answering in time; retry after the Retry-After delay."


class RequestDeadline:
    """The request deadline, above every dependency deadline: past it, a 503 problem.

    If the answer has already started when the deadline passes, it cannot be replaced: the
    request is cancelled and the server closes the connection (an incomplete answer).
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if started or not deadline.expired():
                raise
            record("request", "deadline", _route(scope))
            await send_problem(
                send,
                503,
                f"The request did not finish within {self.seconds:g} s; retry after the Retry-After delay.",
                headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
            )


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "")) or "unmatched"
