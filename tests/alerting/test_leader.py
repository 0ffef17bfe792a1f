"""Leader election of the embedded alert engine: one leader per host (flock) and per database
(PostgreSQL advisory lock); leadership passes over when the leader releases or dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glowops.alerting.leader import acquire_alerting_leadership, advisory_key, lock_path
from glowops.settings import Settings

# A process that tries to lead, says what it got, and holds on until stdin closes or a kill.
CHILD = """
import asyncio, sys
from glowops.alerting.leader import acquire_alerting_leadership
from glowops.settings import Settings

async def main() -> None:
    settings = Settings(state_dir=sys.argv[1], leader_database_url=sys.argv[2], service_name="gateway")
    lead = await acquire_alerting_leadership(settings)
    print("LEADER" if lead else "FOLLOWER", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if lead:
        await lead.release()

asyncio.run(main())
"""


class Child:
    """A gateway-like process contending for leadership."""

    def __init__(self, data_dir: Path, database_url: str = "") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data_dir), database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.answer = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.kill()


def settings_for(data_dir: Path, database_url: str = "") -> Settings:
    return Settings(state_dir=data_dir, leader_database_url=database_url, service_name="gateway")


def test_one_leader_per_host_and_it_passes_over_on_release(tmp_path: Path, children: list[Child]) -> None:
    first = Child(tmp_path)
    children.append(first)
    assert first.answer == "LEADER"
    assert lock_path(settings_for(tmp_path)) == tmp_path / "alerting.db.lock"
    assert (tmp_path / "alerting.db.lock").read_text().strip() == str(first.proc.pid)

    second = Child(tmp_path)
    children.append(second)
    assert second.answer == "FOLLOWER"
    second.stop()

    first.stop()
    third = Child(tmp_path)
    children.append(third)
    assert third.answer == "LEADER"


def test_leadership_passes_over_when_the_leader_dies(tmp_path: Path, children: list[Child]) -> None:
    first = Child(tmp_path)
    children.append(first)
    assert first.answer == "LEADER"
    first.kill()  # no release: the kernel drops the flock with the process

    async def go() -> bool:
        lead = await acquire_alerting_leadership(settings_for(tmp_path))
        if lead is None:
            return False
        assert await lead.still_held()
        await lead.release()
        assert not await lead.still_held()
        await lead.release()  # idempotent
        return True

    assert asyncio.run(go())


def test_other_data_dirs_do_not_contend_without_a_shared_database(tmp_path: Path) -> None:
    async def go() -> None:
        a = await acquire_alerting_leadership(settings_for(tmp_path / "a"))
        b = await acquire_alerting_leadership(settings_for(tmp_path / "b"))
        assert a is not None and b is not None
        assert not a.cluster_wide
        await a.release()
        await b.release()

    asyncio.run(go())


@pytest.mark.postgres
def test_replicas_sharing_postgres_elect_one(tmp_path: Path, pg_url: str) -> None:
    # Two "hosts" (separate data dirs: no shared lock file) on one database: the advisory lock decides.
    async def go() -> None:
        a = await acquire_alerting_leadership(settings_for(tmp_path / "host-a", pg_url))
        assert a is not None and a.cluster_wide
        assert a.advisory_key == advisory_key("gateway")
        assert await a.still_held()
        b = await acquire_alerting_leadership(settings_for(tmp_path / "host-b", pg_url))
        assert b is None
        # The follower gave its host lock back, so another worker of host-b may try later.
        assert not _flock_held(tmp_path / "host-b" / "alerting.db.lock")
        # Another service on the same database elects its own leader.
        other = Settings(state_dir=tmp_path / "host-c", leader_database_url=pg_url, service_name="worker")
        c = await acquire_alerting_leadership(other)
        assert c is not None
        await c.release()

        await a.release()
        b = await acquire_alerting_leadership(settings_for(tmp_path / "host-b", pg_url))
        assert b is not None and b.cluster_wide
        await b.release()

    asyncio.run(go())


@pytest.mark.postgres
def test_replica_leadership_passes_over_when_the_leader_dies(
    tmp_path: Path, pg_url: str, children: list[Child]
) -> None:
    leader = Child(tmp_path / "host-a", pg_url)
    children.append(leader)
    assert leader.answer == "LEADER"
    follower = Child(tmp_path / "host-b", pg_url)
    children.append(follower)
    assert follower.answer == "FOLLOWER"
    follower.stop()
    leader.kill()

    async def go() -> bool:
        # The server ends the dead session (and its lock) as soon as it sees the socket close.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lead = await acquire_alerting_leadership(settings_for(tmp_path / "host-b", pg_url))
            if lead is not None:
                await lead.release()
                return True
            await asyncio.sleep(0.1)
        return False

    assert asyncio.run(go())


def _flock_held(path: Path) -> bool:
    import fcntl

    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
