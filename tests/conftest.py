"""Shared fixtures: real PostgreSQL and Redis, isolated settings and data directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peers import REDIS_URL, missing_peer, port_open, postgres_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (plain libpq URL), dropped afterwards."""
    yield from postgres_database()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of its own (15, or GLOWOPS_TEST_REDIS_DB), flushed before and after."""
    if not port_open(6379):
        missing_peer("Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _pack_registry_restored() -> Iterator[None]:
    """Packs registered during a test (a gateway app registers the Prisma Glow pack) are taken
    out again afterwards, and packs taken out are put back: each test leaves the process's pack
    registry as it found it."""
    from glowops.packs import register_pack, registered_packs, unregister_pack

    before = registered_packs()
    yield
    after = registered_packs()
    for pack in after:
        if pack not in before:
            unregister_pack(pack.name)
    for pack in before:
        if pack not in registered_packs():
            register_pack(pack)


@pytest.fixture
def prismaglow() -> Any:
    """The Prisma Glow pack, registered for this test (its metrics exist, catalogs include it)."""
    from glowops.packs import register_pack
    from glowops_prismaglow import pack

    return register_pack(pack)


@pytest.fixture
def without_packs() -> None:
    """No pack registered during this test, as in a service that registers none."""
    from glowops.packs import registered_packs, unregister_pack

    for pack in registered_packs():
        unregister_pack(pack.name)
