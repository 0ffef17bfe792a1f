"""Fixtures of the health tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from health_helpers import FakeSaaS, HangServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def hang() -> Iterator[HangServer]:
    server = HangServer()
    yield server
    server.close()


@pytest.fixture
def saas() -> Iterator[FakeSaaS]:
    fake = FakeSaaS().start()
    yield fake
    fake.close()


@pytest.fixture
def base_settings(tmp_path: Path) -> dict[str, object]:
    """Settings overrides every health test starts from: a private data dir, no caching."""
    sqlite3.connect(tmp_path / "app.db").close()
    return {
        "state_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'app.db'}",
        # Generous: a healthy peer on a loaded CI machine must not time out. Tests of a hung
        # peer set their own short timeout (a peer that never answers times out at any load).
        "health_check_timeout_seconds": 10.0,
        "health_deadline_seconds": 20.0,
        "health_cache_ttl_seconds": 0.0,
        "health_failure_ttl_seconds": 0.0,
        "service_version": "1.2.3",
        "health_backup_check": False,  # backup freshness has its own tests (test_backup_check.py)
    }
