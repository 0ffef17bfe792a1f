"""The built-in checks: database, Redis, Supabase, OpenAI, the data volume and backup freshness.

Every probe bounds its own I/O (driver connect/command timeouts, socket timeouts, HTTP
timeouts) a little below the runner's timeout, so a hung peer ends the probe cleanly and the
runner's cancellation is only a backstop. Each probe opens its own connection and closes it:
nothing is held between probes, so nothing can leak or go stale between them, and with the TTL
cache that is at most one connection per dependency per TTL.
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi
import httpx
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from glowops.health.errors import AUTHENTICATION_FAILED, NOT_CONFIGURED, unexpected_status
from glowops.health.model import CheckFailed, Observation, Status
from glowops.health.registry import CheckOutcome, HealthCheck
from glowops.telemetry.metrics import metrics

if TYPE_CHECKING:
    from glowops.settings import Settings

APPLICATION_NAME = "glowops-health"
"""application_name of the health check's PostgreSQL connections (find them in pg_stat_activity)."""

# Drivers are imported here, not on the first probe: importing SQLAlchemy or redis-py inside a
# probe would block the event loop for hundreds of milliseconds and could time the probe out.

# The probe's own I/O limit, as a share of the check timeout: the probe ends itself with a clean
# close just before the runner would have to cancel it.
_IO_SHARE = 0.9


class PostgresCheck(HealthCheck):
    """``SELECT 1`` through a SQLAlchemy async engine (asyncpg), one fresh connection per probe.

    The engine uses NullPool: a probe connects as a new request's connection would (so
    ``too many connections`` or a changed password show up) and holds nothing afterwards.
    """

    name = "database"
    component_type = "datastore"

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.io_timeout = timeout * _IO_SHARE
        connect_args: dict[str, Any] = {}
        if "+asyncpg" in url:
            connect_args = {"timeout": self.io_timeout, "command_timeout": self.io_timeout,
                            "server_settings": {"application_name": APPLICATION_NAME}}
        # Created now (it does not connect) so the driver import happens at start-up, not in a probe.
        self.engine: AsyncEngine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)

    async def run(self) -> CheckOutcome:
        async with self.engine.connect() as conn:
            value = await conn.scalar(text("SELECT 1"))
        if value != 1:
            raise CheckFailed("unexpected answer")
        return None

    async def aclose(self) -> None:
        await self.engine.dispose()


class SqliteCheck(HealthCheck):
    """Open the SQLite file read-only and read its schema page (a blocking check).

    Read-only so that a health probe never creates an empty database where the real one is
    missing; reading ``sqlite_master`` notices a file that is not a database.
    """

    name = "database"
    component_type = "datastore"
    blocking = True

    def __init__(self, path: str | None, *, timeout: float) -> None:
        self.path = path  # None: in-memory database
        self.timeout = timeout
        self.io_timeout = timeout * _IO_SHARE

    def run_blocking(self) -> CheckOutcome:
        if self.path is None:
            return None
        file = Path(self.path)
        if not file.is_file():
            raise CheckFailed("database file missing", detail=str(file))
        try:
            conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=self.io_timeout)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise CheckFailed("database error", detail=str(err)) from err
        return None


class RedisCheck(HealthCheck):
    """``PING`` over a fresh connection, no retries, socket timeouts below the check timeout."""

    name = "redis"
    component_type = "datastore"

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.io_timeout = timeout * _IO_SHARE

    async def run(self) -> CheckOutcome:
        io = self.io_timeout
        client = Redis.from_url(self.url, socket_connect_timeout=io, socket_timeout=io,
                                retry=Retry(NoBackoff(), 0), health_check_interval=0)
        try:
            pong = await client.ping()
        finally:
            await client.aclose()
        if not pong:
            raise CheckFailed("unexpected answer")
        return None


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every HTTP probe: loading the CA bundle costs tens of milliseconds."""
    return ssl.create_default_context(cafile=certifi.where())


class HttpCheck(HealthCheck):
    """GET a URL; 2xx passes, 401/403 is ``authentication failed``, anything else its status.

    The body is never read (a model list can be large) and redirects are not followed.
    """

    component_type = "component"

    def __init__(self, name: str, url: str, *, headers: dict[str, str], timeout: float,
                 critical: bool = False, ttl: float | None = None) -> None:
        self.name = name
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.io_timeout = timeout * _IO_SHARE
        self.critical = critical
        self.ttl = ttl

    async def run(self) -> CheckOutcome:
        if not self.headers:
            raise CheckFailed(NOT_CONFIGURED, detail=f"{self.name}: no API key configured")
        verify: ssl.SSLContext | bool = _ssl_context() if self.url.startswith("https:") else True
        client = httpx.AsyncClient(timeout=httpx.Timeout(self.io_timeout), verify=verify,
                                   follow_redirects=False)
        async with client, client.stream("GET", self.url, headers=self.headers) as response:
            status = response.status_code
        if 200 <= status < 300:
            return None
        if status in (401, 403):
            raise CheckFailed(AUTHENTICATION_FAILED, detail=f"{self.name} answered {status}")
        raise CheckFailed(unexpected_status(status), detail=f"{self.name} answered {status}")


def supabase_check(settings: Settings) -> HttpCheck:
    """``GET {SUPABASE_URL}/auth/v1/health`` with the ``apikey`` header Supabase requires.

    Non-critical unless ``GLOWOPS_HEALTH_SUPABASE_CRITICAL=true``: with Supabase Auth down,
    sign-ins fail but signed-in users keep working, so the instance should stay in rotation
    (the AuthenticationServiceDown alert pages instead).
    """
    assert settings.supabase_url is not None
    key = settings.supabase_anon_key.get_secret_value() if settings.supabase_anon_key else ""
    return HttpCheck("supabase", settings.supabase_url.rstrip("/") + "/auth/v1/health",
                     headers={"apikey": key} if key else {}, timeout=settings.health_check_timeout_seconds,
                     critical=settings.health_supabase_critical)


def openai_check(settings: Settings) -> HttpCheck:
    """``GET {OPENAI_BASE_URL}/models`` with the key; cached longer since every call spends quota."""
    assert settings.openai_api_key is not None
    key = settings.openai_api_key.get_secret_value()
    return HttpCheck("openai", settings.openai_base_url.rstrip("/") + "/models",
                     headers={"Authorization": f"Bearer {key}"} if key else {},
                     timeout=settings.health_check_timeout_seconds, critical=False,
                     ttl=max(settings.health_openai_ttl_seconds, settings.health_cache_ttl_seconds))


class DiskCheck(HealthCheck):
    """Used share of the volume holding ``path`` (as ``df`` counts it); warn and fail lines in percent.

    Non-critical: a 90% full volume is not an outage, and answering 503 would pull every instance
    out of rotation without freeing a byte; the StorageFull alert (``glowops_disk_used_ratio``)
    pages instead. Blocking because statvfs on a hung network volume never returns.
    """

    name = "disk"
    component_type = "system"
    measurement = "utilization"
    blocking = True
    critical = False

    def __init__(self, path: Path, *, warn_percent: float, fail_percent: float) -> None:
        if warn_percent > fail_percent:
            raise ValueError(f"disk warn line {warn_percent}% is above the fail line {fail_percent}%")
        self.path = path
        self.warn_percent = warn_percent
        self.fail_percent = fail_percent

    def run_blocking(self) -> CheckOutcome:
        usage = shutil.disk_usage(_existing_ancestor(self.path))
        # used / (used + available to us): what df reports; root's reserved blocks count as used.
        denominator = usage.used + usage.free
        ratio = usage.used / denominator if denominator else 0.0
        _set_disk_gauge(ratio)
        percent = round(ratio * 100, 2)
        if percent >= self.fail_percent:
            return Observation(Status.FAIL, "storage full", percent, "percent")
        if percent >= self.warn_percent:
            return Observation(Status.WARN, "storage almost full", percent, "percent")
        return Observation(Status.PASS, None, percent, "percent")


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent: the volume that holds (or will hold) the data."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _set_disk_gauge(ratio: float) -> None:
    metrics.gauge("glowops_disk_used_ratio", ratio)


def database_check(settings: Settings) -> HealthCheck:
    """The database check for ``settings.effective_database_url`` (PostgreSQL or SQLite)."""
    url = settings.effective_database_url
    timeout = settings.health_check_timeout_seconds
    if url.startswith("sqlite"):
        database = make_url(url).database
        return SqliteCheck(None if not database or database == ":memory:" else database, timeout=timeout)
    return PostgresCheck(url, timeout=timeout)


def default_checks(settings: Settings) -> list[HealthCheck]:
    """Database and disk always; Redis, Supabase and OpenAI when configured; backup freshness
    unless ``GLOWOPS_HEALTH_BACKUP_CHECK=false``."""
    checks: list[HealthCheck] = [database_check(settings)]
    if settings.redis_url:
        checks.append(RedisCheck(settings.redis_url, timeout=settings.health_check_timeout_seconds))
    if settings.supabase_url:
        checks.append(supabase_check(settings))
    if settings.openai_api_key is not None:
        checks.append(openai_check(settings))
    checks.append(DiskCheck(settings.data_dir, warn_percent=settings.disk_warn_percent,
                            fail_percent=settings.disk_fail_percent))
    if settings.health_backup_check:
        checks.append(BackupFreshnessCheck(settings))
    return checks


class BackupFreshnessCheck(HealthCheck):
    """Age of the newest good backup in the backup store (``glowops backup run``).

    Non-critical: a stale backup is a risk, not an outage, so it degrades the answer (and the
    BackupStale alert pages) without pulling the instance out of rotation. No backup at all is
    a warning, not a failure, so a fresh ``make run`` is not reported broken. Blocking because
    reading an S3 store is a network round trip; the store summary is cached for a few seconds.
    """

    name = "backup"
    component_type = "datastore"
    measurement = "freshness"
    blocking = True
    critical = False

    def __init__(self, settings: Settings) -> None:
        # Imported here (at start-up), not inside the probe: see the note on drivers above.
        from glowops.backup.monitoring import backup_freshness_now

        self._freshness = functools.partial(backup_freshness_now, settings)

    def run_blocking(self) -> CheckOutcome:
        status, age = self._freshness()
        if age == float("inf"):
            # None in a readable store, or the store cannot be read (logged by the cache).
            return Observation(Status.WARN, "no good backup found")
        hours = round(age / 3600, 2)
        if status == "pass":
            return Observation(Status.PASS, None, hours, "h")
        if status == "warn":
            return Observation(Status.WARN, "backup is stale", hours, "h")
        return Observation(Status.FAIL, "backup is too old", hours, "h")
