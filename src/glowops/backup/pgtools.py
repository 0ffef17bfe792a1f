"""PostgreSQL client tools: finding them, their versions, connection strings, error summaries."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from glowops.backup.errors import BackupError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@functools.lru_cache(maxsize=64)
def tool_version(path: str) -> tuple[int, int, str]:
    """(major, minor, text) of a PostgreSQL client binary, from ``--version``."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as err:
        raise BackupError(f"cannot run {path}: {err}") from None
    match = _VERSION.search(out.stdout)
    if match is None:
        raise BackupError(f"cannot read the version of {path} (got {out.stdout.strip()!r})")
    return int(match.group(1)), int(match.group(2) or 0), out.stdout.strip().split(")", 1)[-1].strip()


def _candidates(name: str) -> list[str]:
    found = []
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    # Debian/Ubuntu keep every installed major under /usr/lib/postgresql/<major>/bin; only some
    # tools (pg_amcheck) are linked onto PATH by postgresql-client-common.
    for path in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        if os.access(path, os.X_OK) and path not in found:
            found.append(path)
    return found


def find_tool(name: str, min_major: int = 0, required: bool = True) -> str | None:
    """The PATH binary when its major version is ≥ ``min_major``, else the newest installed one
    that is. ``None`` (or :class:`BackupError` when ``required``) if none qualifies."""
    candidates = _candidates(name)
    for path in candidates:
        if tool_version(path)[0] >= min_major:
            return path
    if not required:
        return None
    if not candidates:
        raise BackupError(
            f"`{name}` was not found on PATH: install the PostgreSQL client tools "
            f"(e.g. apt-get install postgresql-client-{min_major or 16})"
        )
    have = ", ".join(f"{p} ({tool_version(p)[0]})" for p in candidates)
    raise BackupError(
        f"{name} major version must be at least the server's ({min_major}); found {have}. "
        f"Install postgresql-client-{min_major} or newer and put it first on PATH."
    )


def supports_zstd(pg_dump_major: int) -> bool:
    """zstd compression arrived with pg_dump 16 (15 offers gzip only)."""
    return pg_dump_major >= 16


def mask(text: str) -> str:
    """Secrets (URL passwords, password=...) masked with the redaction policy."""
    from glowops.redaction import default_policy

    return default_policy().redact_text(text)


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def summarise_stderr(stderr: str, limit: int = 5) -> str:
    """The lines of a tool's stderr that carry the reason (errors first), secrets masked."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    important = [
        line for line in lines if re.search(r"error|fatal|could not|failed|denied|abort", line, re.I)
    ]
    chosen = (important or lines)[-limit:]
    return mask(" | ".join(chosen)) if chosen else "(no error output)"


def read_tail(path: Path, size: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""
