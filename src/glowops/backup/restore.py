"""``backup restore ID --to URL``: put a backup back, carefully.

The target must be empty unless ``--force`` (then objects in the backup are dropped and
recreated with ``--clean --if-exists``); the user confirms unless ``--yes``; the checksum is
checked before anything is written; ``pg_restore`` stops at the first error.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg  # type: ignore[import-untyped]

from glowops.backup.archive import checksum_problems, materialize, run_pg_restore, toc_entries
from glowops.backup.errors import BackupError
from glowops.backup.keys import keyring
from glowops.backup.pgconn import connect, table_counts, user_object_count
from glowops.backup.pgtools import database_name, mask, with_database
from glowops.backup.progress import Progress
from glowops.backup.sqlite import counts_of, restore_sqlite, sqlite_counts, sqlite_path
from glowops.backup.store import BackupStore

if TYPE_CHECKING:
    from glowops.settings import Settings


async def _ensure_database(url: str) -> bool:
    """Create the target database when it does not exist; True if it was created."""
    try:
        conn = await asyncpg.connect(url, timeout=15)
    except asyncpg.InvalidCatalogNameError:
        admin = await connect(with_database(url, "postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{database_name(url)}"')
        finally:
            await admin.close()
        return True
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise BackupError(f"cannot connect to {mask(url)}: {mask(str(err))}") from None
    await conn.close()
    return False


def _sqlite_objects(path: Path) -> int:
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return len(sqlite_counts(conn))


async def restore_backup(
    settings: Settings,
    store: BackupStore,
    backup_id: str | None,
    target: str,
    *,
    force: bool = False,
    confirm: Callable[[str], bool] | None = None,
    jobs: int = 2,
    no_acl: bool = False,
    show_progress: bool = True,
) -> dict[str, int]:
    """Restore a backup into ``target``; return the row counts found there afterwards."""
    from glowops.settings import to_plain_url

    target = to_plain_url(target)
    entry = store.get(backup_id)
    manifest = entry.manifest
    if not manifest.good:
        raise BackupError(
            f"backup {manifest.id} failed when it was taken ({manifest.error}); it cannot be restored"
        )
    ring = keyring(settings)
    ring.authenticate(manifest)  # before anything else: a forged backup gets no further
    key = ring.decryption_key(manifest)
    if manifest.kind == "sqlite":
        if not target.startswith("sqlite"):
            raise BackupError(
                f"backup {manifest.id} is a SQLite backup: restore it --to sqlite:///path/to/file.db"
            )
        objects = _sqlite_objects(sqlite_path(target))
    else:
        if not target.startswith(("postgresql://", "postgres://")):
            raise BackupError(
                f"backup {manifest.id} is a PostgreSQL backup: --to must be a postgresql:// URL"
            )
        await _ensure_database(target)
        objects = await user_object_count(target)
    shown = mask(target)
    if objects and not force:
        raise BackupError(
            f"refusing to restore into {shown}: it is not empty "
            f"({objects} existing tables or other relations). "
            "Restore into an empty database, or pass --force to drop and recreate the backup's objects there."
        )
    question = (
        f"Restore backup {manifest.id} (taken {manifest.started_at}, {len(manifest.tables)} tables, "
        f"{sum(manifest.tables.values())} rows) into {shown}"
        + (", replacing the objects it contains" if objects else "")
        + "?"
    )
    if confirm is not None and not confirm(question):
        raise BackupError("restore cancelled")
    with store.fetch(manifest) as folder:
        problems = await asyncio.to_thread(checksum_problems, manifest, folder)
        if problems:
            raise BackupError(
                f"backup {manifest.id} does not match its manifest, not restoring: {'; '.join(problems)}"
            )
        store.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="restore-", dir=store.scratch) as tmp:
            archive = await asyncio.to_thread(materialize, manifest, folder, Path(tmp), key)
            if manifest.kind == "sqlite":
                path = sqlite_path(target)
                await asyncio.to_thread(restore_sqlite, archive, path)
                return counts_of(path)
            major = int(manifest.server_version.split(".")[0])
            total = len(toc_entries(archive, major))
            with Progress(
                f"restore {manifest.id}", total=total, unit="steps", enabled=show_progress
            ) as progress:
                await asyncio.to_thread(
                    run_pg_restore,
                    archive,
                    target,
                    fmt=manifest.format,
                    jobs=jobs,
                    server_major=major,
                    clean=bool(objects),
                    no_acl=no_acl,
                    progress=progress,
                )
    return await table_counts(target)
