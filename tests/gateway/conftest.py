"""Gateway fixtures: one seeded gateway per backend (SQLite, PostgreSQL) per test module.

Seeding hashes eight passwords with Argon2 (about a second), so the gateway is shared by the
tests of a module; each test creates the documents and approvals it looks at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_helpers import Gw, running_gateway, settings_for

from peers import postgres_database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    data_dir: Path = tmp_path_factory.mktemp(f"gw-{request.param}")
    if request.param == "sqlite":
        with running_gateway(settings_for("sqlite", data_dir), "sqlite") as gateway:
            yield gateway
        return
    for url in postgres_database("glowops_gw"):
        with running_gateway(settings_for("postgres", data_dir, url), "postgres") as gateway:
            yield gateway
