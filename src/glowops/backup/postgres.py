"""PostgreSQL backups with pg_dump, consistent with row counts taken in the same snapshot.

A REPEATABLE READ transaction exports its snapshot (``pg_export_snapshot()``) and stays open
while ``pg_dump --snapshot`` dumps exactly that state; the same transaction counts the rows of
every table meanwhile, so the manifest's counts are those of the dump, not of a moment later.
Custom-format output is streamed from pg_dump's stdout through sha256 (and encryption) to
disk: the archive is read once.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg  # type: ignore[import-untyped]

from glowops.backup.crypto import file_context
from glowops.backup.errors import BackupError
from glowops.backup.manifest import FileEntry, directory_checksum
from glowops.backup.pgconn import connect, count_rows, list_tables, tool_url
from glowops.backup.pgtools import find_tool, read_tail, summarise_stderr, supports_zstd, tool_version
from glowops.backup.progress import Progress
from glowops.backup.sink import ENC_SUFFIX, HashingWriter, copy_stream, hash_file, store_file

DumpFormat = Literal["custom", "directory"]
CUSTOM_NAME = "dump.pgc"
DIRECTORY_NAME = "dump"
GLOBALS_NAME = "globals.sql"


@dataclass(slots=True)
class DumpResult:
    """What a dumper hands the manifest."""

    files: list[FileEntry]
    sha256: str
    server_version: str
    tool_version: str
    compression: str
    tables: dict[str, int] = field(default_factory=dict)


def _failure(tool: str, code: int, stderr_path: Path) -> BackupError:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return BackupError(f"{tool} was killed by signal {name}: the backup is incomplete")
    return BackupError(f"{tool} failed (exit {code}): {summarise_stderr(read_tail(stderr_path))}")


def _spawn(cmd: list[str], stderr_path: Path, stdout: int) -> subprocess.Popen[bytes]:
    """Start a client tool with its stderr captured to a file (read for the error summary)."""
    with open(stderr_path, "wb") as err:
        return subprocess.Popen(cmd, stdout=stdout, stderr=err)


async def _wait(proc: subprocess.Popen[bytes]) -> int:
    return await asyncio.to_thread(proc.wait)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def dump_postgres(
    url: str,
    staging: Path,
    *,
    fmt: DumpFormat = "custom",
    jobs: int = 1,
    include_globals: bool = False,
    key: bytes | None = None,
    progress: Progress | None = None,
    backup_id: str = "",
) -> DumpResult:
    """Dump the database at ``url`` (libpq form) into ``staging`` (files bound to ``backup_id``)."""
    if fmt == "custom" and jobs > 1:
        raise BackupError("parallel dumps (--jobs > 1) need --format directory")
    conn = await connect(url)
    try:
        server_num = int(await conn.fetchval("SHOW server_version_num"))
        server_text = str(await conn.fetchval("SHOW server_version")).split(" ", 1)[0]
        pg_dump = find_tool("pg_dump", server_num // 10000)
        assert pg_dump is not None
        major, _, dump_text = tool_version(pg_dump)
        compression = "zstd" if supports_zstd(major) else "gzip"
        compress_args = ["--compress=zstd"] if compression == "zstd" else []  # gzip is the default
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = str(await conn.fetchval("SELECT pg_export_snapshot()"))
            tables = await list_tables(conn)
            with tool_url(url, staging) as dburl:
                cmd = [pg_dump, f"--dbname={dburl}", f"--snapshot={snapshot}", *compress_args]
                if fmt == "custom":
                    entries, counts = await _dump_custom(cmd, conn, tables, staging, key, progress, backup_id)
                else:
                    entries, counts = await _dump_directory(
                        cmd, conn, tables, staging, jobs, key, progress, backup_id
                    )
        main_sha = entries[0].sha256 if fmt == "custom" else directory_checksum(entries)
        if include_globals:
            entries.append(await _dump_globals(url, server_num // 10000, staging, key, backup_id))
        return DumpResult(entries, main_sha, server_text, dump_text, compression, counts)
    finally:
        await conn.close()


async def _dump_custom(
    cmd: list[str],
    conn: asyncpg.Connection,
    tables: list[tuple[str, str]],
    staging: Path,
    key: bytes | None,
    progress: Progress | None,
    backup_id: str,
) -> tuple[list[FileEntry], dict[str, int]]:
    name = CUSTOM_NAME + (ENC_SUFFIX if key else "")
    writer = HashingWriter(staging / name, key, file_context(backup_id, name))
    on_bytes = progress.advance if progress is not None else None
    stderr_path = staging / ".pg_dump.stderr"
    proc = _spawn([*cmd, "--format=custom"], stderr_path, subprocess.PIPE)
    try:
        assert proc.stdout is not None
        copy = asyncio.to_thread(copy_stream, proc.stdout, writer, on_bytes)  # type: ignore[arg-type]
        _, counts = await asyncio.gather(copy, count_rows(conn, tables))
        code = await _wait(proc)
    except BaseException:
        _kill(proc)
        writer.abort()
        raise
    if code != 0:
        writer.abort()
        raise _failure("pg_dump", code, stderr_path)
    entry = writer.close()
    if writer.plain_bytes == 0 or not writer.head.startswith(b"PGDMP"):
        raise BackupError("pg_dump exited 0 but wrote no archive (empty output): not a usable backup")
    stderr_path.unlink()
    return [entry], counts


async def _dump_directory(
    cmd: list[str],
    conn: asyncpg.Connection,
    tables: list[tuple[str, str]],
    staging: Path,
    jobs: int,
    key: bytes | None,
    progress: Progress | None,
    backup_id: str,
) -> tuple[list[FileEntry], dict[str, int]]:
    target = staging / (".plain-dump" if key else DIRECTORY_NAME)
    stderr_path = staging / ".pg_dump.stderr"
    proc = _spawn(
        [*cmd, "--format=directory", f"--jobs={jobs}", f"--file={target}"], stderr_path, subprocess.DEVNULL
    )
    try:
        counts = await count_rows(conn, tables)
        code = await _wait(proc)
    except BaseException:
        _kill(proc)
        raise
    if code != 0:
        raise _failure("pg_dump", code, stderr_path)
    if not (target / "toc.dat").is_file():
        raise BackupError("pg_dump exited 0 but wrote no toc.dat: not a usable backup")
    stderr_path.unlink()
    entries: list[FileEntry] = []
    if key:
        out = staging / DIRECTORY_NAME
        out.mkdir()
        for path in sorted(target.iterdir()):
            entry = await asyncio.to_thread(
                store_file, path, out, key, lambda n: file_context(backup_id, f"{DIRECTORY_NAME}/{n}")
            )
            entries.append(FileEntry(f"{DIRECTORY_NAME}/{entry.name}", entry.size, entry.sha256))
        shutil.rmtree(target)
    else:
        for path in sorted(target.iterdir()):
            entry = await asyncio.to_thread(hash_file, path)
            entries.append(FileEntry(f"{DIRECTORY_NAME}/{entry.name}", entry.size, entry.sha256))
    if progress is not None:
        progress.advance(sum(e.size for e in entries))
    return entries, counts


async def _dump_globals(
    url: str, server_major: int, staging: Path, key: bytes | None, backup_id: str
) -> FileEntry:
    """Roles and tablespaces (``pg_dumpall --globals-only``), without password hashes."""
    pg_dumpall = find_tool("pg_dumpall", server_major)
    assert pg_dumpall is not None
    name = GLOBALS_NAME + (ENC_SUFFIX if key else "")
    writer = HashingWriter(staging / name, key, file_context(backup_id, name))
    stderr_path = staging / ".pg_dumpall.stderr"
    with tool_url(url, staging) as dburl:
        # --no-role-passwords: backups never carry password hashes, and a non-superuser may run it.
        proc = _spawn(
            [pg_dumpall, f"--dbname={dburl}", "--globals-only", "--no-role-passwords"],
            stderr_path,
            subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            await asyncio.to_thread(copy_stream, proc.stdout, writer)  # type: ignore[arg-type]
            code = await _wait(proc)
        except BaseException:
            _kill(proc)
            writer.abort()
            raise
    if code != 0:
        writer.abort()
        raise _failure("pg_dumpall --globals-only", code, stderr_path)
    with contextlib.suppress(FileNotFoundError):
        stderr_path.unlink()
    return writer.close()
