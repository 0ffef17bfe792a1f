"""Check builders a service declares, and the checks glowops adds by itself.

A service names its own dependencies; glowops never guesses them::

    from glowops.health import checks

    glowops.instrument(app, checks=[
        checks.database(engine),                         # SELECT 1 on a fresh connection
        checks.redis("redis://cache:6379/0", critical=False),
        checks.http("payments", "https://payments.internal/health", critical=False),
    ])

glowops adds only what it owns: the state volume (``disk``, non-critical) and, when backups are
configured, their freshness (``backup``, non-critical).

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

from glowops.health.errors import AUTHENTICATION_FAILED, NOT_CONFIGURED, unexpected_status
from glowops.health.model import CheckFailed, Observation, Status
from glowops.health.registry import CheckOutcome, HealthCheck, validate_name
from glowops.settings import to_async_url
from glowops.telemetry.metrics import metrics

if TYPE_CHECKING:
    from glowops.settings import Settings

APPLICATION_NAME = "glowops-health"
"""application_name of the health check's PostgreSQL connections (find them in pg_stat_activity)."""

# Drivers are imported when a check is built (at start-up), never on the first probe: importing
# SQLAlchemy or redis-py inside a probe would block the event loop for hundreds of milliseconds
# and could time the probe out. They come with the extras (glowops[postgres], [redis], [http]).

# The probe's own I/O limit, as a share of the check timeout: the probe ends itself with a clean
# close just before the runner would have to cancel it.
_IO_SHARE = 0.9


class PostgresCheck(HealthCheck):
    """``SELECT 1`` through a SQLAlchemy async engine (asyncpg), one fresh connection per probe.

    The engine uses NullPool: a probe connects as a new request's connection would (so
    ``too many connections`` or a changed password show up) and holds nothing afterwards.
    """

    component_type = "datastore"

    def __init__(
        self, url: str, *, name: str = "database", critical: bool = True, timeout: float | None = None
    ) -> None:
        from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
        from sqlalchemy.pool import NullPool

        self.url = to_async_url(url)
        self.name = validate_name(name)
        self.critical = critical
        self.timeout = timeout
        self._create = functools.partial(create_async_engine, self.url, poolclass=NullPool)
        self.engine: AsyncEngine | None = None

    def prepare(self, default_timeout: float) -> None:
        super().prepare(default_timeout)
        io = (self.timeout or default_timeout) * _IO_SHARE
        connect_args: dict[str, Any] = {}
        if "+asyncpg" in self.url:
            connect_args = {
                "timeout": io,
                "command_timeout": io,
                "server_settings": {"application_name": APPLICATION_NAME},
            }
        # Created now (it does not connect) so the driver import happens at start-up, not in a probe.
        self.engine = self._create(connect_args=connect_args, hide_parameters=True)

    async def run(self) -> CheckOutcome:
        from sqlalchemy import text

        assert self.engine is not None, "prepare() runs before the first probe"
        async with self.engine.connect() as conn:
            value = await conn.scalar(text("SELECT 1"))
        if value != 1:
            raise CheckFailed("unexpected answer")
        return None

    async def aclose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


class SqliteCheck(HealthCheck):
    """Open the SQLite file read-only and read its schema page (a blocking check).

    Read-only so that a health probe never creates an empty database where the real one is
    missing; reading ``sqlite_master`` notices a file that is not a database.
    """

    component_type = "datastore"
    blocking = True

    def __init__(
        self, path: str | None, *, name: str = "database", critical: bool = True, timeout: float | None = None
    ) -> None:
        self.path = path  # None: in-memory database
        self.name = validate_name(name)
        self.critical = critical
        self.timeout = timeout

    def run_blocking(self) -> CheckOutcome:
        if self.path is None:
            return None
        file = Path(self.path)
        if not file.is_file():
            raise CheckFailed("database file missing", detail=str(file))
        try:
            conn = sqlite3.connect(
                f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=(self.timeout or 2.0) * _IO_SHARE
            )
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise CheckFailed("database error", detail=str(err)) from err
        return None


class RedisCheck(HealthCheck):
    """``PING`` over a fresh connection, no retries, socket timeouts below the check timeout."""

    component_type = "datastore"

    def __init__(
        self, url: str, *, name: str = "redis", critical: bool = True, timeout: float | None = None
    ) -> None:
        from redis.asyncio import Redis

        self.url = url
        self.name = validate_name(name)
        self.critical = critical
        self.timeout = timeout
        self._client_class = Redis

    async def run(self) -> CheckOutcome:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        io = (self.timeout or 2.0) * _IO_SHARE
        client = self._client_class.from_url(
            self.url,
            socket_connect_timeout=io,
            socket_timeout=io,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
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
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class HttpCheck(HealthCheck):
    """GET a URL; 2xx passes, 401/403 is ``authentication failed``, anything else its status.

    The body is never read (a model list can be large) and redirects are not followed.
    ``require_headers``: fail as "not configured" when ``headers`` is empty (an API key that
    was not set) instead of probing without credentials.
    """

    component_type = "component"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        critical: bool = False,
        ttl: float | None = None,
        require_headers: bool = False,
    ) -> None:
        import httpx

        self.name = validate_name(name)
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.critical = critical
        self.ttl = ttl
        self.require_headers = require_headers
        self._httpx = httpx

    async def run(self) -> CheckOutcome:
        if self.require_headers and not self.headers:
            raise CheckFailed(NOT_CONFIGURED, detail=f"{self.name}: no API key configured")
        httpx = self._httpx
        verify: ssl.SSLContext | bool = _ssl_context() if self.url.startswith("https:") else True
        client = httpx.AsyncClient(
            timeout=httpx.Timeout((self.timeout or 2.0) * _IO_SHARE), verify=verify, follow_redirects=False
        )
        async with client, client.stream("GET", self.url, headers=self.headers) as response:
            status = response.status_code
        if 200 <= status < 300:
            return None
        if status in (401, 403):
            raise CheckFailed(AUTHENTICATION_FAILED, detail=f"{self.name} answered {status}")
        raise CheckFailed(unexpected_status(status), detail=f"{self.name} answered {status}")


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


# --------------------------------------------------------------------------------------------
# The builders a service declares its dependencies with
# --------------------------------------------------------------------------------------------
def database(
    target: Any, *, name: str = "database", critical: bool = True, timeout: float | None = None
) -> HealthCheck:
    """A check of the service's database: a URL (``postgresql://``, ``sqlite:///``), or the
    service's own SQLAlchemy engine (sync or async), whose URL it connects to afresh per probe.

    PostgreSQL: ``SELECT 1`` on a new connection (needs ``glowops[postgres]``). SQLite: the file
    opened read-only. Critical by default: without its database the service cannot answer.
    """
    url = _url_of(target)
    if url.startswith("sqlite"):
        database_path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
        memory = not database_path or database_path == ":memory:"
        return SqliteCheck(None if memory else database_path, name=name, critical=critical, timeout=timeout)
    if not url.startswith("postgres"):
        raise ValueError(
            f"health check {name!r}: a database check takes a postgresql:// or sqlite:/// "
            "URL or a SQLAlchemy engine"
        )
    return PostgresCheck(url, name=name, critical=critical, timeout=timeout)


def redis(
    url: str, *, name: str = "redis", critical: bool = True, timeout: float | None = None
) -> HealthCheck:
    """``PING`` a Redis server (``redis://``, ``rediss://``, ``unix://``); needs ``glowops[redis]``."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"health check {name!r}: a Redis check takes a redis:// URL")
    return RedisCheck(url, name=name, critical=critical, timeout=timeout)


def http(
    name: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    critical: bool = False,
    timeout: float | None = None,
    ttl: float | None = None,
    require_headers: bool = False,
) -> HealthCheck:
    """``GET url``: 2xx passes (needs ``glowops[http]``). Non-critical by default: a third-party
    API that is down degrades the answer without taking the instance out of rotation."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"health check {name!r}: an HTTP check takes an http:// or https:// URL")
    return HttpCheck(
        name,
        url,
        headers=headers,
        critical=critical,
        timeout=timeout,
        ttl=ttl,
        require_headers=require_headers,
    )


def disk(path: Path, *, warn_percent: float = 80.0, fail_percent: float = 90.0) -> HealthCheck:
    """Used share of the volume holding ``path`` (non-critical)."""
    return DiskCheck(path, warn_percent=warn_percent, fail_percent=fail_percent)


def _url_of(target: Any) -> str:
    """A plain URL string from a URL or a SQLAlchemy (async) engine, password included."""
    if isinstance(target, str):
        return target
    url = getattr(target, "url", None)
    render = getattr(url, "render_as_string", None)
    if render is None:
        raise TypeError(f"a database check takes a URL or a SQLAlchemy engine, not {type(target).__name__}")
    return str(render(hide_password=False))


def glowops_checks(settings: Settings) -> list[HealthCheck]:
    """What glowops checks by itself: its state volume, and the backups when they are configured."""
    checks: list[HealthCheck] = [
        disk(
            settings.state_dir,
            warn_percent=settings.disk_warn_percent,
            fail_percent=settings.disk_fail_percent,
        )
    ]
    if settings.health_backup_check and settings.backups_configured:
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
