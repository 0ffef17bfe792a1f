"""Fixtures of the backup tests: a populated PostgreSQL database and an isolated backup store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from backup_helpers import SCHEMA, run_sql
from typer.testing import CliRunner


@pytest.fixture
def populated_db(pg_url: str) -> str:
    run_sql(pg_url, SCHEMA)
    return pg_url


@pytest.fixture
def backup_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GLOWOPS_BACKUP_DIR under tmp_path; no S3, no encryption unless a test sets it."""
    backups = tmp_path / "backups"
    monkeypatch.setenv("GLOWOPS_BACKUP_DIR", str(backups))
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path / "var"))
    for name in (
        "GLOWOPS_BACKUP_S3_BUCKET",
        "GLOWOPS_BACKUP_ENCRYPTION_KEY",
        "DATABASE_URL",
        "GLOWOPS_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return backups


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    yield CliRunner()
