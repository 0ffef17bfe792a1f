"""SQLite backups through sqlite3's online backup API (safe while the database is in use).

The copy is a consistent snapshot; row counts are read from the copy, then it is gzip-compressed
(and optionally encrypted) into the store while being hashed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from glowops.backup.crypto import file_context
from glowops.backup.errors import BackupError
from glowops.backup.manifest import FileEntry
from glowops.backup.postgres import DumpResult
from glowops.backup.progress import Progress
from glowops.backup.sink import ENC_SUFFIX, HashingWriter

ARCHIVE_NAME = "db.sqlite.gz"


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` (or ``sqlite+aiosqlite:///path``) URL."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("sqlite"):
        raise BackupError(f"not a SQLite URL: {url}")
    path = unquote(parts.path)
    # sqlite:///relative/path -> "/relative/path" after urlsplit; sqlite:////abs -> "//abs".
    if path.startswith("//"):
        return Path(path[1:])
    return Path(path[1:]) if path.startswith("/") else Path(path)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (``main.<table>``), internal ``sqlite_*`` tables excluded."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name"
        )
    ]
    sql = "SELECT count(*) FROM {}"  # names come from sqlite_master, quoted
    return {f"main.{n}": int(conn.execute(sql.format(_quote(n))).fetchone()[0]) for n in names}


def dump_sqlite(
    source: Path,
    staging: Path,
    key: bytes | None = None,
    progress: Progress | None = None,
    backup_id: str = "",
) -> DumpResult:
    """Back up the SQLite file ``source`` into ``staging`` (files bound to ``backup_id``)."""
    if not source.is_file():
        raise BackupError(f"the SQLite database {source} does not exist")
    copy = staging / ".copy.sqlite"
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
            counts = sqlite_counts(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as err:
        raise BackupError(f"SQLite backup of {source} failed: {err}") from None
    name = ARCHIVE_NAME + (ENC_SUFFIX if key else "")
    writer = HashingWriter(staging / name, key, file_context(backup_id, name))
    try:
        gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member, readable by gunzip
        with open(copy, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                writer.write(gz.compress(chunk))
                if progress is not None:
                    progress.advance(len(chunk))
        writer.write(gz.flush())
    except BaseException:
        writer.abort()
        raise
    entry: FileEntry = writer.close()
    copy.unlink()
    return DumpResult(
        [entry],
        entry.sha256,
        sqlite3.sqlite_version,
        f"python sqlite3 {sqlite3.sqlite_version}",
        "gzip",
        counts,
    )


def decompress_to(chunks: Iterable[bytes], dest: Path) -> None:
    """Write the plaintext database of a stored archive to ``dest``."""
    gz = zlib.decompressobj(31)
    with open(dest, "wb") as out:
        for chunk in chunks:
            out.write(gz.decompress(chunk))
        out.write(gz.flush())
    if not gz.eof:
        raise BackupError("the SQLite archive is truncated")


def integrity_check(path: Path) -> tuple[bool, str]:
    """``PRAGMA integrity_check`` of a database file: (ok, first lines of its answer)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as err:
        return False, str(err)
    return rows == ["ok"], "; ".join(rows[:5])


def counts_of(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return sqlite_counts(conn)


def restore_sqlite(plain_copy: Path, target: Path) -> None:
    """Copy a verified plaintext database into ``target`` with the backup API (safe for a live file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(plain_copy)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
