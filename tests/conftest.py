"""Shared fixtures: real PostgreSQL and Redis, isolated settings and data directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
