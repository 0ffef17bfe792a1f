"""Backups of a real PostgreSQL database, through the command line a user runs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from backup_helpers import EXPECTED_COUNTS, invoke, manifests, new_key, run_sql, table_fingerprints
from click.testing import CliRunner

from peers import PG_ADMIN_URL, drop_database, new_database

pytestmark = pytest.mark.postgres


def _database_exists(name: str) -> bool:
    import asyncio

    import asyncpg

    async def go() -> bool:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(go())


def test_round_trip_custom_format_verify_and_restore(
    populated_db: str, backup_env: Path, cli: CliRunner
) -> None:
    code, out = invoke(cli, "run", "--database-url", populated_db, "--quiet")
    assert code == 0, out
    [manifest] = manifests(backup_env)
    assert manifest["status"] == "ok" and manifest["format"] == "custom" and manifest["compression"] == "gzip"
    assert manifest["tables"] == EXPECTED_COUNTS
    assert manifest["server_version"].startswith("15.") and manifest["pg_dump_version"].startswith("15.")
    assert manifest["id"] < "9" and manifest["size_bytes"] > 10_000 and len(manifest["sha256"]) == 64

    code, out = invoke(cli, "verify", "--drill-url", PG_ADMIN_URL, "--quiet")
    assert code == 0, out
    assert "row counts" in out and "measured restore time" in out
    folder = backup_env / manifest["id"]
    report = json.loads((folder / "drill-report.json").read_text())
    assert report["ok"] is True and report["restore_seconds"] > 0
    assert {c["name"] for c in report["checks"]} >= {"checksum", "table of contents", "restore", "row counts"}
    assert "PASSED" in (folder / "drill-report.md").read_text()
    restore_check = next(c for c in report["checks"] if c["name"] == "restore")
    drill_db = restore_check["detail"].split(" into ")[1].split(" ")[0]
    assert drill_db.startswith("glowops_drill_" + manifest["id"][:8])
    assert not _database_exists(drill_db)  # the scratch database was dropped

    target = new_database("glowops_restore")
    try:
        code, out = invoke(cli, "restore", manifest["id"], "--to", target, "--yes", "--quiet")
        assert code == 0, out
        assert "public.orders: 8000 rows" in out
        assert table_fingerprints(target) == table_fingerprints(populated_db)
    finally:
        drop_database(target)


def test_directory_format_parallel_and_encrypted(
    populated_db: str, backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", new_key())
    code, out = invoke(
        cli,
        "run",
        "--database-url",
        populated_db,
        "--format",
        "directory",
        "--jobs",
        "2",
        "--globals",
        "--quiet",
    )
    assert code == 0, out
    [manifest] = manifests(backup_env)
    assert manifest["format"] == "directory" and manifest["encryption"] == "aes-256-gcm"
    names = {f["name"] for f in manifest["files"]}
    assert "dump/toc.dat.enc" in names and "globals.sql.enc" in names
    # Nothing readable at rest: no plaintext pg_dump signature, no plaintext e-mail addresses.
    for path in (backup_env / manifest["id"]).rglob("*.enc"):
        data = path.read_bytes()
        assert b"PGDMP" not in data and b"@example.com" not in data

    target = new_database("glowops_restore")
    try:
        code, out = invoke(cli, "restore", manifest["id"], "--to", target, "--yes", "--quiet")
        assert code == 0, out
        assert table_fingerprints(target) == table_fingerprints(populated_db)
    finally:
        drop_database(target)

    monkeypatch.setenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", new_key())  # the wrong key
    code, out = invoke(cli, "verify", "--drill-url", PG_ADMIN_URL, "--quiet")
    assert code == 1
    assert "FAILED signature" in out and "neither the current key nor one of GLOWOPS_BACKUP_OLD_KEYS" in out


def test_flipped_byte_fails_verify(populated_db: str, backup_env: Path, cli: CliRunner) -> None:
    assert invoke(cli, "run", "--database-url", populated_db, "--quiet")[0] == 0
    [manifest] = manifests(backup_env)
    dump = backup_env / manifest["id"] / "dump.pgc"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))

    code, out = invoke(cli, "verify", manifest["id"], "--drill-url", PG_ADMIN_URL, "--quiet")
    assert code == 1
    assert "FAILED checksum" in out and "dump.pgc: sha256" in out and "did not verify" in out
    report = json.loads((backup_env / manifest["id"] / "drill-report.json").read_text())
    assert report["ok"] is False

    target = new_database("glowops_restore")
    try:
        code, out = invoke(cli, "restore", manifest["id"], "--to", target, "--yes", "--quiet")
        assert code == 1 and "does not match its manifest" in out
    finally:
        drop_database(target)


def _fake_pg_dump(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir()
    script = bin_dir / "pg_dump"
    script.write_text(f'#!/bin/sh\ncase "$1" in --version) exec /usr/bin/pg_dump --version;; esac\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_pg_dump_killed_midway_leaves_no_good_backup(
    populated_db: str, backup_env: Path, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real pg_dump writes part of its archive, then the process is killed with SIGKILL.
    _fake_pg_dump(tmp_path / "bin", '/usr/bin/pg_dump "$@" | head -c 3000\nkill -KILL $$')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    code, out = invoke(cli, "run", "--database-url", populated_db, "--quiet")
    assert code == 1
    assert "killed by signal SIGKILL" in out
    [manifest] = manifests(backup_env)
    assert manifest["status"] == "failed" and "SIGKILL" in manifest["error"]
    assert [p.name for p in (backup_env / manifest["id"]).iterdir()] == ["manifest.json"]  # no partial data
    assert list((backup_env / ".staging").iterdir()) == []
    code, out = invoke(cli, "verify", "--quiet")
    assert code == 1 and "no good backup" in out


def test_pg_dump_exit_zero_with_empty_output_is_not_good(
    populated_db: str, backup_env: Path, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_pg_dump(tmp_path / "bin", "exit 0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    code, out = invoke(cli, "run", "--database-url", populated_db, "--quiet")
    assert code == 1 and "empty output" in out
    assert [m["status"] for m in manifests(backup_env)] == ["failed"]


def test_failure_reason_is_summarised_and_password_masked(backup_env: Path, cli: CliRunner) -> None:
    url = "postgresql://postgres:Sup3rSecret@127.0.0.1:5432/glowops_no_such_database"
    code, out = invoke(cli, "run", "--database-url", url, "--quiet")
    assert code == 1
    assert "does not exist" in out
    assert "Sup3rSecret" not in out
    [manifest] = manifests(backup_env)
    assert "Sup3rSecret" not in json.dumps(manifest) and manifest["status"] == "failed"


def test_restore_refuses_a_non_empty_target(populated_db: str, backup_env: Path, cli: CliRunner) -> None:
    assert invoke(cli, "run", "--database-url", populated_db, "--quiet")[0] == 0
    target = new_database("glowops_restore")
    try:
        run_sql(target, "CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)")
        code, out = invoke(cli, "restore", "latest", "--to", target, "--yes", "--quiet")
        assert code == 1 and "not empty" in out and "--force" in out
        assert table_fingerprints(target) == {
            "public.precious": (1, table_fingerprints(target)["public.precious"][1])
        }

        code, out = invoke(cli, "restore", "latest", "--to", target, "--force", "--quiet", input="n\n")
        assert code == 1 and "cancelled" in out

        code, out = invoke(cli, "restore", "latest", "--to", target, "--force", "--quiet", input="y\n")
        assert code == 0, out
        restored = table_fingerprints(target)
        assert restored.pop("public.precious")[0] == 1  # --force replaces the backup's objects only
        assert restored == table_fingerprints(populated_db)
    finally:
        drop_database(target)


def test_full_disk_is_a_failed_backup(
    populated_db: str, backup_env: Path, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    small = tmp_path / "small"
    small.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        monkeypatch.setenv("GLOWOPS_BACKUP_DIR", str(small))
        code, out = invoke(cli, "run", "--database-url", populated_db, "--quiet")
        assert code == 1
        assert "no space left on device" in out
        assert [m["status"] for m in manifests(small)] == ["failed"]
        assert not list((small / ".staging").iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_pg_dump_older_than_server_is_refused() -> None:
    from glowops.backup.errors import BackupError
    from glowops.backup.pgtools import find_tool

    with pytest.raises(BackupError, match=r"pg_dump major version must be at least the server's \(99\)"):
        find_tool("pg_dump", 99)


def test_list_and_status(populated_db: str, backup_env: Path, cli: CliRunner) -> None:
    code, out = invoke(cli, "status")
    assert code == 1 and "last good backup:     - (never)" in out
    assert invoke(cli, "run", "--database-url", populated_db, "--quiet")[0] == 0
    code, out = invoke(cli, "list", "--json")
    assert code == 0
    [item] = json.loads(out)
    assert item["status"] == "ok" and item["verify"] is None
    code, out = invoke(cli, "status")
    assert code == 0, out
    assert "min ago" in out and "retention:            compliant" in out
