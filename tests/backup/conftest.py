"""Fixtures of the backup tests: a populated PostgreSQL database and an isolated backup store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from backup_helpers import SCHEMA, Keys, run_sql
from click.testing import CliRunner

from peers import free_port


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


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, backup_env: Path) -> Iterator[Keys]:
    """A moto S3 server and a fresh bucket; yields a function listing the bucket's keys."""
    from moto.server import ThreadedMotoServer

    bucket = f"glowops-backups-{uuid.uuid4().hex[:8]}"  # moto's buckets outlive its server

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "GLOWOPS_BACKUP_S3_BUCKET": bucket,
        "GLOWOPS_BACKUP_S3_PREFIX": "prod/db",
        "GLOWOPS_BACKUP_S3_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)

    def keys() -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    yield keys
    server.stop()
