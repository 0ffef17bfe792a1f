"""SQLite backups through the online backup API, verified and restored through the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from backup_helpers import invoke, manifests
from click.testing import CliRunner


def make_db(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT, body BLOB);
            CREATE TABLE "audit log" (id INTEGER PRIMARY KEY, event TEXT);
            CREATE INDEX documents_title ON documents (title);
        """)
        conn.executemany(
            "INSERT INTO documents (title, body) VALUES (?, ?)",
            [(f"doc {i}", bytes([i % 256]) * 200) for i in range(4000)],
        )
        conn.executemany('INSERT INTO "audit log" (event) VALUES (?)', [(f"e{i}",) for i in range(1200)])


def dump_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in ("documents", "audit log")
        }


def test_sqlite_round_trip(tmp_path: Path, backup_env: Path, cli: CliRunner) -> None:
    source = tmp_path / "app.db"
    make_db(source)
    live = sqlite3.connect(source)  # an open connection (the service running) does not matter
    try:
        code, out = invoke(cli, "run", "--database-url", f"sqlite:///{source}", "--quiet")
    finally:
        live.close()
    assert code == 0, out
    [manifest] = manifests(backup_env)
    assert manifest["kind"] == "sqlite" and manifest["compression"] == "gzip"
    assert manifest["tables"] == {"main.documents": 4000, "main.audit log": 1200}

    code, out = invoke(cli, "verify", "--quiet")
    assert code == 0, out
    assert "ok     integrity_check: ok" in out
    report = json.loads((backup_env / manifest["id"] / "drill-report.json").read_text())
    assert report["ok"] and report["restore_seconds"] is not None

    target = tmp_path / "restored" / "app.db"
    code, out = invoke(cli, "restore", manifest["id"], "--to", f"sqlite:///{target}", "--yes")
    assert code == 0, out
    assert "main.documents: 4000 rows" in out
    assert dump_rows(target) == dump_rows(source)

    code, out = invoke(cli, "restore", manifest["id"], "--to", f"sqlite:///{source}", "--yes")
    assert code == 1 and "not empty" in out


def test_sqlite_corrupted_archive_fails_verify(tmp_path: Path, backup_env: Path, cli: CliRunner) -> None:
    source = tmp_path / "app.db"
    make_db(source)
    assert invoke(cli, "run", "--database-url", f"sqlite:///{source}", "--quiet")[0] == 0
    [manifest] = manifests(backup_env)
    archive = backup_env / manifest["id"] / "db.sqlite.gz"
    data = bytearray(archive.read_bytes())
    data[100] ^= 0xFF
    archive.write_bytes(bytes(data))
    code, out = invoke(cli, "verify", "--quiet")
    assert code == 1 and "FAILED checksum" in out


def test_missing_sqlite_file_is_a_failed_backup(tmp_path: Path, backup_env: Path, cli: CliRunner) -> None:
    code, out = invoke(cli, "run", "--database-url", f"sqlite:///{tmp_path / 'nope.db'}", "--quiet")
    assert code == 1 and "does not exist" in out
    assert [m["status"] for m in manifests(backup_env)] == ["failed"]
