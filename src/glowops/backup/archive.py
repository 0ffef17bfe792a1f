"""Reading a stored backup back: checksums, decryption to a usable archive, restore commands."""

from __future__ import annotations

import subprocess
import threading
from collections import deque
from pathlib import Path

from glowops.backup.crypto import file_context
from glowops.backup.errors import BackupError
from glowops.backup.manifest import Manifest, directory_checksum
from glowops.backup.pgconn import tool_url
from glowops.backup.pgtools import find_tool, summarise_stderr
from glowops.backup.postgres import CUSTOM_NAME, DIRECTORY_NAME
from glowops.backup.progress import Progress
from glowops.backup.sink import ENC_SUFFIX, hash_file, plaintext_chunks
from glowops.backup.sqlite import ARCHIVE_NAME, decompress_to


def checksum_problems(manifest: Manifest, folder: Path) -> list[str]:
    """Every stored file present with its recorded size and sha256; empty list when all match."""
    problems = []
    for entry in manifest.files:
        path = folder / entry.name
        if not path.is_file():
            problems.append(f"{entry.name}: missing")
            continue
        actual = hash_file(path)
        if actual.size != entry.size:
            problems.append(f"{entry.name}: size {actual.size} bytes, manifest says {entry.size}")
        elif actual.sha256 != entry.sha256:
            problems.append(f"{entry.name}: sha256 {actual.sha256[:16]}…, manifest says {entry.sha256[:16]}…")
    if not manifest.files:
        problems.append("the manifest lists no files")
    elif manifest.format == "directory" and not problems:
        main = [f for f in manifest.files if f.name.startswith(DIRECTORY_NAME + "/")]
        if directory_checksum(main) != manifest.sha256:
            problems.append("the directory checksum does not match the manifest")
        # pg_restore reads a plaintext directory dump in place: a file the manifest does not list
        # would reach it unchecked.
        listed = {f.name for f in main}
        dump_dir = folder / DIRECTORY_NAME
        if dump_dir.is_dir():
            extra = sorted(
                f"{DIRECTORY_NAME}/{p.name}"
                for p in dump_dir.iterdir()
                if f"{DIRECTORY_NAME}/{p.name}" not in listed
            )
            if extra:
                problems.append(f"files the manifest does not list: {', '.join(extra[:5])}")
    return problems


def _plain_name(name: str) -> str:
    return name[: -len(ENC_SUFFIX)] if name.endswith(ENC_SUFFIX) else name


def materialize(manifest: Manifest, folder: Path, workdir: Path, key: bytes | None) -> Path:
    """The plaintext archive to hand pg_restore (or the SQLite file), decrypting into ``workdir``
    when needed. Unencrypted PostgreSQL archives are used in place."""
    if manifest.kind == "sqlite":
        stored = next(f for f in manifest.files if _plain_name(f.name) == ARCHIVE_NAME)
        dest = workdir / "restored.sqlite"
        decompress_to(plaintext_chunks(folder / stored.name, key, _context(manifest, stored.name)), dest)
        return dest
    if manifest.format == "custom":
        stored = next(f for f in manifest.files if _plain_name(f.name) == CUSTOM_NAME)
        if not manifest.encryption:
            return folder / stored.name
        dest = workdir / CUSTOM_NAME
        _write_plain(folder / stored.name, dest, key, _context(manifest, stored.name))
        return dest
    if not manifest.encryption:
        return folder / DIRECTORY_NAME
    dest = workdir / DIRECTORY_NAME
    dest.mkdir(parents=True, exist_ok=True)
    for entry in manifest.files:
        if entry.name.startswith(DIRECTORY_NAME + "/"):
            plain = dest / _plain_name(Path(entry.name).name)
            _write_plain(folder / entry.name, plain, key, _context(manifest, entry.name))
    return dest


def _context(manifest: Manifest, name: str) -> bytes:
    return file_context(manifest.id, name)


def _write_plain(src: Path, dest: Path, key: bytes | None, context: bytes) -> None:
    with open(dest, "wb") as out:
        for chunk in plaintext_chunks(src, key, context):
            out.write(chunk)


def toc_entries(archive: Path, server_major: int) -> list[str]:
    """The archive's table of contents (``pg_restore --list``), or :class:`BackupError`."""
    pg_restore = find_tool("pg_restore", server_major)
    assert pg_restore is not None
    out = subprocess.run([pg_restore, "--list", str(archive)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BackupError(f"pg_restore --list cannot read the archive: {summarise_stderr(out.stderr)}")
    return [line for line in out.stdout.splitlines() if line and not line.startswith(";")]


def run_pg_restore(
    archive: Path,
    target_url: str,
    *,
    fmt: str,
    jobs: int,
    server_major: int,
    clean: bool = False,
    no_acl: bool = False,
    progress: Progress | None = None,
) -> None:
    """pg_restore with ``--exit-on-error`` (it otherwise carries on past errors and exits 0-ish),
    ``--no-owner``; ``-j`` for directory archives. Progress counts the items it reports."""
    pg_restore = find_tool("pg_restore", server_major)
    assert pg_restore is not None
    with tool_url(target_url) as dburl:
        _pg_restore(pg_restore, archive, dburl, fmt, jobs, clean, no_acl, progress)


def _pg_restore(
    pg_restore: str,
    archive: Path,
    dburl: str,
    fmt: str,
    jobs: int,
    clean: bool,
    no_acl: bool,
    progress: Progress | None,
) -> None:
    cmd = [pg_restore, "--exit-on-error", "--no-owner", "--verbose", f"--dbname={dburl}"]
    if fmt == "directory" and jobs > 1:
        cmd.append(f"--jobs={jobs}")
    if clean:
        cmd += ["--clean", "--if-exists"]
    if no_acl:
        cmd.append("--no-acl")
    cmd.append(str(archive))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tail: deque[str] = deque(maxlen=200)

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line)
            if progress is not None and ("processing item" in line or "creating" in line):
                progress.advance(1)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    code = proc.wait()
    reader.join()
    if code != 0:
        raise BackupError(f"pg_restore failed (exit {code}): {summarise_stderr(''.join(tail))}")
