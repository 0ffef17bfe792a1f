"""Private PostgreSQL and Redis servers a test starts, freezes (SIGSTOP) and stops on its own.

Fault injection must never touch the shared peers other tests use: these are separate
processes on free ports, in their own process group so that a freeze stops the server and
every backend it forked.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers import free_port, port_open, require_binary


@dataclass
class PrivateServer:
    """A running server process group: its URL, and freeze/thaw/stop."""

    url: str
    process: subprocess.Popen[bytes]
    port: int
    frozen: bool = False

    def _pids(self) -> list[int]:
        """The server and every process it forked (PostgreSQL's backends call setsid())."""
        pids = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                pids.append(int(entry.name))
        return pids

    def _signal(self, signum: int) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def freeze(self) -> None:
        """SIGSTOP the whole server: connections stay open, nothing answers."""
        self._signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)
        self.frozen = False

    def stop(self) -> None:
        """Stop the server for good (connections are refused afterwards)."""
        if self.frozen:
            self.thaw()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=10)


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"private server on port {port} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def _unprivileged() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` account then."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid}


@contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """A throw-away PostgreSQL cluster (trust auth, superuser ``postgres``) on a free port."""
    initdb = require_binary("initdb")
    postgres = require_binary("postgres")
    as_user = _unprivileged()
    root = Path(tempfile.mkdtemp(prefix="glowops-pg-"))
    data, log = root / "data", root / "server.log"
    if as_user:
        os.chown(root, as_user["user"], as_user["group"])
    try:
        subprocess.run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            **as_user,
        )
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    postgres,
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(root),
                    "-h",
                    "127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=40",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **as_user,
            )
        server = PrivateServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", process, port)
        try:
            _wait_port(port, process, log)
            _wait_accepting(server.url)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def new_private_database(server: PrivateServer) -> str:
    """An empty database of its own on a private PostgreSQL; its URL."""
    import asyncio
    import uuid

    import asyncpg

    name = f"glowops_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def _wait_accepting(url: str) -> None:
    import asyncio

    import asyncpg

    async def ping() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    deadline = time.monotonic() + 30
    while not asyncio.run(ping()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"private PostgreSQL at {url} does not accept connections")
        time.sleep(0.1)


@contextmanager
def private_redis() -> Iterator[PrivateServer]:
    """A throw-away Redis (no persistence) on a free port."""
    binary = require_binary("redis-server")
    root = Path(tempfile.mkdtemp(prefix="glowops-redis-"))
    log = root / "server.log"
    port = free_port()
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(root),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = PrivateServer(f"redis://127.0.0.1:{port}/0", process, port)
        try:
            _wait_port(port, process, log)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
