"""One embedded alert engine per deployment, however many workers and replicas run the gateway.

Two locks, both released by the operating system or the database when their holder dies, so
leadership passes over without any timeout or heartbeat table:

* a host lock: an exclusive, non-blocking ``fcntl.flock`` on ``state_dir/alerting.db.lock``,
  next to the alerting state database. Several uvicorn workers (or ``glowops serve`` started
  twice) on one host share that file; only one of them holds the lock.
* a cluster lock, when the gateway runs on PostgreSQL: a session-level
  ``pg_try_advisory_lock`` held on a dedicated connection. Replicas on other hosts share the
  database, so exactly one of them holds it. The key derives from the service name, so two
  services sharing one database each elect their own leader.

In the app lifespan::

    leadership = await acquire_alerting_leadership(settings)
    if leadership is not None:          # this process runs the engine
        alerting = start_embedded_alerting(settings, registry)
        await alerting.start()
    ...
    if leadership is not None:
        await alerting.stop()
        await leadership.release()

A process that got ``None`` serves requests normally and simply runs no engine. Leadership is
not re-contested while a process lives: a follower does not take over when the leader exits
(the next restart of a follower does). ``Leadership.still_held()`` tells the leader whether its
database session is still alive (the lock dies with the session).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glowops.alerting.state import state_path
from glowops.settings import Settings, to_plain_url

log = logging.getLogger("glowops.alerting.leader")

LOCK_SUFFIX = ".lock"
_KEY_NAMESPACE = "glowops.alerting.leader:"


def lock_path(settings: Settings) -> Path:
    """The host lock file: ``state_dir/alerting.db.lock``, beside the state database."""
    state = state_path(settings)
    return state.with_name(state.name + LOCK_SUFFIX)


def advisory_key(service_name: str) -> int:
    """The signed 64-bit ``pg_try_advisory_lock`` key of a service (stable across versions)."""
    digest = hashlib.sha256((_KEY_NAMESPACE + service_name).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class Leadership:
    """Held locks of the process that runs the embedded alert engine; :meth:`release` them."""

    lock_file: Path
    _fd: int | None
    advisory_key: int | None = None
    _connection: Any = None  # asyncpg.Connection holding the advisory lock, when on PostgreSQL

    @property
    def cluster_wide(self) -> bool:
        """True when a PostgreSQL advisory lock backs this leadership (replicas on other hosts)."""
        return self._connection is not None

    async def still_held(self) -> bool:
        """Whether the locks are still ours: the advisory lock lives only as long as its session."""
        if self._fd is None:
            return False
        if self._connection is None:
            return True
        try:
            held = await self._connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                " AND granted AND classid = $1 AND objid = $2",
                (self.advisory_key or 0) >> 32 & 0xFFFFFFFF,
                (self.advisory_key or 0) & 0xFFFFFFFF,
            )
        except Exception:  # a dropped connection means the lock is gone
            return False
        return bool(held)

    async def release(self) -> None:
        """Give leadership up (idempotent): unlock in the database, then the host lock file."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.execute("SELECT pg_advisory_unlock($1)", self.advisory_key)
            except Exception as err:  # closing the session below releases it anyway
                log.warning("advisory unlock failed: %s", type(err).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close()
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _lock_host(path: Path) -> int | None:
    """The descriptor holding an exclusive flock on ``path``, or None when another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # The holder's pid in the file helps an operator see who leads; the lock is what counts.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def _lock_cluster(settings: Settings, key: int) -> Any | None:
    """A dedicated connection holding the advisory lock ``key``, or None when another session has it."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(
        to_plain_url(settings.leader_database_url), timeout=settings.health_check_timeout_seconds * 5
    )
    try:
        got = await connection.fetchval("SELECT pg_try_advisory_lock($1)", key)
    except BaseException:
        await connection.close()
        raise
    if not got:
        await connection.close()
        return None
    return connection


async def acquire_alerting_leadership(settings: Settings) -> Leadership | None:
    """Try, without waiting, to become the one process that runs the embedded alert engine.

    Returns a :class:`Leadership` (call ``await .release()`` at shutdown) or None when another
    worker on this host, or another replica sharing the PostgreSQL database, already leads.
    A database that cannot be reached raises (the caller decides; the gateway logs and runs
    without the engine rather than risk two engines).
    """
    path = lock_path(settings)
    fd = _lock_host(path)
    if fd is None:
        log.info("embedded alerting: another process on this host leads (%s)", path)
        return None
    leadership = Leadership(lock_file=path, _fd=fd)
    if not settings.leader_database_url.startswith("postgres"):
        return leadership
    key = advisory_key(settings.service_name)
    try:
        connection = await _lock_cluster(settings, key)
    except BaseException:
        await leadership.release()
        raise
    if connection is None:
        log.info("embedded alerting: another replica leads (advisory lock %d)", key)
        await leadership.release()
        return None
    leadership.advisory_key = key
    leadership._connection = connection
    return leadership
