"""Connections for the backup code: asyncpg for queries, libpq strings for the client tools."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from glowops.backup.errors import BackupError
from glowops.backup.pgtools import mask

# Tables whose data pg_dump dumps: ordinary and partition tables outside the system schemas,
# excluding temporary tables and those belonging to extensions. Names come quoted (%I.%I).
TABLES_SQL = r"""
SELECT format('%I.%I', n.nspname, c.relname) AS qualified, n.nspname || '.' || c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 2
"""

USER_OBJECTS_SQL = r"""
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
"""


async def connect(url: str) -> asyncpg.Connection:
    """An asyncpg connection, or a :class:`BackupError` with the URL's secrets masked."""
    try:
        return await asyncpg.connect(url, timeout=15)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise BackupError(f"cannot connect to {mask(url)}: {mask(str(err))}") from None


async def list_tables(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(quoted identifier, "schema.table") of every table whose rows a dump contains."""
    return [(r["qualified"], r["name"]) for r in await conn.fetch(TABLES_SQL)]


async def count_rows(conn: asyncpg.Connection, tables: list[tuple[str, str]]) -> dict[str, int]:
    # `qualified` comes from format('%I.%I') in TABLES_SQL: quoted identifiers, not user input.
    sql = "SELECT count(*) FROM {}"
    return {name: int(await conn.fetchval(sql.format(qualified))) for qualified, name in tables}


async def table_counts(url: str, names: Mapping[str, int] | None = None) -> dict[str, int]:
    """Row counts of every dumpable table of a database (one connection, one snapshot)."""
    conn = await connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await count_rows(conn, await list_tables(conn))
    finally:
        await conn.close()


async def user_object_count(url: str) -> int:
    conn = await connect(url)
    try:
        return int(await conn.fetchval(USER_OBJECTS_SQL))
    finally:
        await conn.close()


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def tool_url(url: str, workdir: Path | None = None) -> Iterator[str]:
    """The connection string to hand a client tool (pg_dump, pg_dumpall, pg_restore,
    pg_amcheck, psql): the password moves from the URL (``user:password@`` or ``?password=``,
    visible to every local user in ``/proc/*/cmdline``) to a libpq passfile in a private
    directory (0700, file 0600) that is removed afterwards."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_query = next((v for k, v in query if k == "password"), None)
    password = unquote(parts.password) if parts.password is not None else in_query
    if password is None:
        yield url
        return
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="glowops-pgpass-", dir=workdir))  # mode 0700
    passfile = private / "pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"*:*:*:*:{_pgpass_escape(password)}\n")
    query = [(k, v) for k, v in query if k not in ("password", "passfile")] + [("passfile", str(passfile))]
    try:
        yield urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
    finally:
        shutil.rmtree(private, ignore_errors=True)
