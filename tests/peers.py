"""Real test peers: a missing one skips loudly on a laptop and fails under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from glowops.settings import environ_flag

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# GLOWOPS_TEST_REDIS_DB lets parallel checkouts use separate databases (the fixture flushes it).
REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('GLOWOPS_TEST_REDIS_DB', '15'))}"


def missing_peer(what: str) -> None:
    """Skip (laptop) or fail (CI) because a real peer is not there."""
    message = f"REAL PEER MISSING: {what}. Run `bash scripts/ensure-peers.sh` (make test does)."
    if environ_flag("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_peer(f"the `{name}` binary")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_execute(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def new_database(prefix: str = "glowops_test") -> str:
    """Create an empty PostgreSQL database; return its plain ``postgresql://`` URL."""
    if not port_open(5432):
        missing_peer("PostgreSQL on 127.0.0.1:5432")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_database(prefix: str = "glowops_test") -> Iterator[str]:
    url = new_database(prefix)
    try:
        yield url
    finally:
        drop_database(url)


def with_user(url: str, user: str) -> str:
    """``url`` with its user replaced (trust authentication: no password)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def least_privilege(url: str) -> tuple[str, str]:
    """Provision the gateway's login roles for the database at ``url`` (a superuser's URL).

    Returns ``(owner_url, gateway_url)``: migrations run as the owner, the gateway connects as a
    NOINHERIT role that is neither superuser nor owner nor BYPASSRLS, as in a deployment.
    """
    import asyncio

    import asyncpg

    from prisma_glow_gateway.roles import LoginRoles, provisioning_sql

    roles = LoginRoles()
    database = urlsplit(url).path.lstrip("/")

    async def provision() -> None:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                # Roles are cluster-wide and other test processes provision them too.
                await conn.execute("SELECT pg_advisory_xact_lock(727274)")
                for statement in provisioning_sql(database, roles):
                    await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(provision())
    return with_user(url, roles.owner), with_user(url, roles.gateway)


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 180, log: Path | None = None
) -> None:
    """Wait until ``url`` answers 200; fail early (with the tail of ``log``) if ``proc`` exits.

    The bound is generous on purpose: a process that died fails at once, and one that is merely
    slow on a loaded CI machine must not fail the suite.
    """
    import httpx

    def tail() -> str:
        return f":\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}{tail()}")  # type: ignore[index]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s{tail()}")


@contextmanager
def serve_app(app: Any, **config: Any) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn in a thread on a free port; yields its base URL.

    ``config``: more :class:`uvicorn.Config` arguments (``http=...`` for a protocol class).
    """
    import uvicorn

    port = free_port()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
