"""``backup run``: produce a backup, write its manifest last, or record a failure and say why."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from glowops.backup.crypto import ALGORITHM
from glowops.backup.errors import BackupError
from glowops.backup.keys import keyring
from glowops.backup.manifest import Kind, Manifest, iso, new_backup_id
from glowops.backup.pgtools import mask
from glowops.backup.postgres import DumpFormat, DumpResult, dump_postgres
from glowops.backup.progress import Progress
from glowops.backup.sqlite import dump_sqlite, sqlite_path
from glowops.backup.store import BackupStore

if TYPE_CHECKING:
    from glowops.settings import Settings


def tool_version() -> str:
    try:
        return "glowops " + metadata.version("glowops")
    except metadata.PackageNotFoundError:
        return "glowops (unknown version)"


def source_url(settings: Settings, database_url: str | None) -> str:
    """The database to back up, in libpq / sqlite:/// form (``--database-url``, else
    ``GLOWOPS_BACKUP_DATABASE_URL``)."""
    from glowops.settings import to_plain_url

    url = database_url or settings.backup_database_url
    if not url:
        raise BackupError(
            "no database to back up: set GLOWOPS_BACKUP_DATABASE_URL (postgresql://... or sqlite:///...) "
            "or pass --database-url"
        )
    return to_plain_url(url)


@dataclass(slots=True)
class RunOptions:
    database_url: str | None = None
    fmt: DumpFormat = "custom"
    jobs: int = 1
    include_globals: bool = False
    show_progress: bool = True


async def run_backup(settings: Settings, store: BackupStore, options: RunOptions | None = None) -> Manifest:
    """Back up the database; return the good manifest or raise :class:`BackupError` after
    recording a ``failed`` manifest (when the store can still take one)."""
    opts = options or RunOptions()
    ring = keyring(settings)
    key = ring.encryption
    url = source_url(settings, opts.database_url)
    kind: Kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    if kind == "postgresql" and not url.startswith(("postgresql://", "postgres://")):
        raise BackupError(f"cannot back up {mask(url)}: expected a postgresql:// or sqlite:/// URL")
    started = datetime.now(UTC)
    clock = time.monotonic()
    manifest = Manifest(
        id=new_backup_id(started),
        kind=kind,
        status="failed",
        started_at=iso(started),
        database=mask(url),
        tool_version=tool_version(),
        encryption=ALGORITHM if key else None,
    )
    staging: Path | None = None
    try:
        staging = store.staging(manifest.id)
        with Progress(f"backup {manifest.id}", enabled=opts.show_progress) as progress:
            result: DumpResult
            if kind == "sqlite":
                manifest.format = "sqlite"
                result = await asyncio.to_thread(
                    dump_sqlite, sqlite_path(url), staging, key, progress, manifest.id
                )
            else:
                manifest.format = opts.fmt
                result = await dump_postgres(
                    url,
                    staging,
                    fmt=opts.fmt,
                    jobs=opts.jobs,
                    include_globals=opts.include_globals,
                    key=key,
                    progress=progress,
                    backup_id=manifest.id,
                )
        manifest.files = result.files
        manifest.sha256 = result.sha256
        manifest.size_bytes = sum(f.size for f in result.files)
        manifest.server_version = result.server_version
        manifest.pg_dump_version = result.tool_version
        manifest.compression = result.compression
        manifest.tables = result.tables
        manifest.globals_included = opts.include_globals
        manifest.status = "ok"
        manifest.finished_at = iso(datetime.now(UTC))
        manifest.duration_seconds = round(time.monotonic() - clock, 3)
        ring.sign(manifest)
        await asyncio.to_thread(store.commit, manifest, staging)
        return manifest
    except BaseException as err:
        reason = _reason(err)
        manifest.status = "failed"
        manifest.error = reason
        manifest.finished_at = iso(datetime.now(UTC))
        manifest.duration_seconds = round(time.monotonic() - clock, 3)
        store.discard_staging(staging)
        note = ""
        with contextlib.suppress(Exception):
            store.delete(manifest.id)  # anything a failed commit left behind
        try:
            ring.sign(manifest)
            store.record_failure(manifest)
        except Exception as record_err:
            note = f" (the failure could not be recorded either: {mask(str(record_err))})"
        if isinstance(err, BackupError | OSError | KeyboardInterrupt | asyncio.CancelledError):
            raise BackupError(f"backup {manifest.id} failed: {reason}{note}") from err
        raise


def _reason(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt | asyncio.CancelledError):
        return "interrupted"
    if isinstance(err, OSError) and err.errno is not None:
        import errno as errno_mod

        if err.errno == errno_mod.ENOSPC:
            return f"no space left on device while writing {err.filename or 'the backup'}"
        return mask(f"{err.strerror or err}" + (f": {err.filename}" if err.filename else ""))
    return mask(str(err)) or type(err).__name__
