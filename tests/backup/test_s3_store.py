"""The S3 store against moto's server: a real S3 wire-protocol endpoint on loopback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from backup_helpers import Keys, invoke, new_key, table_fingerprints
from click.testing import CliRunner

from peers import PG_ADMIN_URL, drop_database, new_database


@pytest.mark.postgres
def test_postgres_backup_to_s3_verify_restore_prune(
    s3: Keys, populated_db: str, backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", new_key())
    code, out = invoke(cli, "run", "--database-url", populated_db, "--quiet")
    assert code == 0, out
    stored = s3()
    backup_id = stored[0].split("/")[2]
    assert stored == [f"prod/db/{backup_id}/dump.pgc.enc", f"prod/db/{backup_id}/manifest.json"]
    assert not any(backup_env.glob(".staging/*"))  # staging is cleaned after the upload

    code, out = invoke(cli, "verify", "--drill-url", PG_ADMIN_URL, "--quiet")
    assert code == 0, out
    assert f"prod/db/{backup_id}/drill-report.json" in s3()
    assert f"prod/db/{backup_id}/verifying.lock" not in s3()

    code, out = invoke(cli, "list")
    assert code == 0 and backup_id in out and "passed" in out

    target = new_database("glowops_restore")
    try:
        code, out = invoke(cli, "restore", backup_id, "--to", target, "--yes", "--quiet")
        assert code == 0, out
        assert table_fingerprints(target) == table_fingerprints(populated_db)
    finally:
        drop_database(target)

    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_DAILY", "0")
    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_WEEKLY", "0")
    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_MONTHLY", "0")
    assert invoke(cli, "run", "--database-url", populated_db, "--quiet")[0] == 0
    code, out = invoke(cli, "prune")
    assert code == 0, out
    # The newest (new) backup and the newest verified (first) backup both survive.
    assert "0 removed" in out and f"{backup_id}  (newest verified)" in out


def test_sqlite_backup_to_s3_round_trip(s3: Keys, tmp_path: Path, backup_env: Path, cli: CliRunner) -> None:
    source = tmp_path / "app.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(str(i),) for i in range(2500)])
    assert invoke(cli, "run", "--database-url", f"sqlite:///{source}", "--quiet")[0] == 0
    assert invoke(cli, "verify", "--quiet")[0] == 0
    target = tmp_path / "restored.db"
    code, out = invoke(cli, "restore", "latest", "--to", f"sqlite:///{target}", "--yes")
    assert code == 0 and "main.t: 2500 rows" in out
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*), sum(CAST(v AS INTEGER)) FROM t").fetchone() == (2500, 3123750)
