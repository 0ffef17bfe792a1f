"""The security review's backup findings, each performed for real against the CLI.

1. S3 keys with ``..`` / absolute parts (moto's S3 server) must not write outside the scratch
   directory during ``verify`` or ``restore``;
2. ``prune`` must not delete outside the backup directory whatever id a manifest claims;
3. a planted plaintext backup, an unsigned or re-labelled one, must fail ``verify`` (with the
   verify-failure metric) and ``restore`` before a byte reaches SQLite; rotation keeps old
   backups verifiable.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import boto3
import pytest
from backup_helpers import Keys, invoke, manifests, new_key
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from glowops.backup.monitoring import register_backup_collector
from glowops.settings import Settings


def make_app_db(path: Path, admin: str = "alice") -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin INTEGER)")
        conn.execute("INSERT INTO users (name, admin) VALUES (?, 1)", (admin,))
        conn.executemany("INSERT INTO users (name, admin) VALUES (?, 0)", [(f"u{i}",) for i in range(300)])
    return f"sqlite:///{path}"


def last_verify_success(backup_env: Path) -> float | None:
    registry = CollectorRegistry()
    register_backup_collector(Settings(backup_dir=backup_env), registry=registry, ttl=0)
    return registry.get_sample_value("glowops_backup_last_verify_success")


# --- 1. S3 keys that leave the directory -------------------------------------------------------


def test_hostile_s3_keys_are_never_written_outside(
    s3: Keys, tmp_path: Path, backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    source = tmp_path / "app.db"
    assert invoke(cli, "run", "--database-url", make_app_db(source), "--quiet")[0] == 0
    backup_id = s3()[0].split("/")[2]
    client = boto3.client("s3", endpoint_url=os.environ["GLOWOPS_BACKUP_S3_ENDPOINT_URL"])
    bucket = os.environ["GLOWOPS_BACKUP_S3_BUCKET"]
    outside = tmp_path / "outside"
    planted = {
        f"prod/db/{backup_id}//{outside}/abs-planted": b"absolute",
        f"prod/db/{backup_id}/../../../../../../..{outside}/dotdot-planted": b"dotdot",
        f"prod/db/{backup_id}/..\\..\\backslash-planted": b"backslash",
    }
    for key, body in planted.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    assert set(planted) <= set(s3())  # the server kept the hostile keys as they are

    code, out = invoke(cli, "verify", "--quiet")
    assert code == 0, out  # the backup itself is fine: only the files its manifest lists are read
    target = tmp_path / "restored.db"
    code, out = invoke(cli, "restore", backup_id, "--to", f"sqlite:///{target}", "--yes")
    assert code == 0, out
    written = {p.name for p in tmp_path.rglob("*planted*")} | {p.name for p in Path("/").glob("*planted*")}
    assert written == set()
    assert not outside.exists()

    # A manifest naming such a file is not a backup at all: it is never listed, fetched or restored.
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=f"prod/db/{backup_id}/manifest.json")["Body"].read()
    )
    for hostile in (f"/{outside}/x", "../../x", "a/../../x", "a\\b", "a\x00b"):
        manifest["files"] = [{"name": hostile, "size": 1, "sha256": "0" * 64}]
        client.put_object(Bucket=bucket, Key=f"prod/db/{backup_id}/manifest.json", Body=json.dumps(manifest))
        code, out = invoke(cli, "verify", backup_id, "--quiet")
        assert code == 1 and f"no backup {backup_id!r}" in out, out
    assert not outside.exists()


# --- 2. prune and hostile manifest ids -------------------------------------------------------------


def test_prune_never_deletes_outside_the_backup_directory(
    tmp_path: Path, backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(cli, "run", "--database-url", make_app_db(tmp_path / "app.db"), "--quiet")[0] == 0
    good = manifests(backup_env)[0]
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    (sibling / "precious.txt").write_text("keep me")
    absolute = tmp_path / "absolute"
    absolute.mkdir()
    (absolute / "precious.txt").write_text("keep me")
    # Old-looking manifests whose ids point elsewhere, in directories prune would visit.
    for folder, hostile in (("planted-a", "../sibling"), ("planted-b", str(absolute)), ("planted-c", "..")):
        planted = dict(good, id=hostile, started_at="2020-01-01T00:00:00.000Z")
        (backup_env / folder).mkdir()
        (backup_env / folder / "manifest.json").write_text(json.dumps(planted))
    # And a symlink to a sibling directory, named like a backup.
    (backup_env / "20200101T000000.000Z-dead").symlink_to(sibling, target_is_directory=True)
    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_DAILY", "0")
    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_WEEKLY", "0")
    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_MONTHLY", "0")
    code, out = invoke(cli, "prune")
    assert code == 0, out
    assert (sibling / "precious.txt").read_text() == "keep me"
    assert (absolute / "precious.txt").read_text() == "keep me"
    assert "sibling" not in out and str(absolute) not in out
    code, out = invoke(cli, "list", "--json")
    assert [m["id"] for m in json.loads(out)] == [good["id"]]  # hostile manifests are not backups


# --- 3. forged, plaintext and re-labelled backups -------------------------------------------------


@pytest.fixture
def keyed(backup_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    key = new_key()
    monkeypatch.setenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", key)
    return key


def plant_plaintext_backup(
    tmp_path: Path, backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The attacker runs glowops without a key on their own database and drops the result in."""
    with monkeypatch.context() as m:
        elsewhere = tmp_path / "attacker-backups"
        m.setenv("GLOWOPS_BACKUP_DIR", str(elsewhere))
        m.delenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", raising=False)
        assert (
            invoke(cli, "run", "--database-url", make_app_db(tmp_path / "evil.db", "mallory"), "--quiet")[0]
            == 0
        )
    (planted,) = [p for p in elsewhere.iterdir() if not p.name.startswith(".")]  # not .staging
    shutil.copytree(planted, backup_env / planted.name)
    return planted.name


def test_planted_plaintext_backup_fails_verify_and_restore(
    tmp_path: Path, backup_env: Path, keyed: str, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = plant_plaintext_backup(tmp_path, backup_env, cli, monkeypatch)
    code, out = invoke(cli, "verify", planted, "--quiet")
    assert code == 1
    assert "FAILED signature" in out and "is not signed, but a backup key is configured" in out
    assert "integrity_check" not in out  # refused before the file was read
    assert last_verify_success(backup_env) == 0.0

    target = tmp_path / "restored.db"
    code, out = invoke(cli, "restore", planted, "--to", f"sqlite:///{target}", "--yes")
    assert code == 1 and "is not signed" in out
    assert not target.exists()


def test_signed_plaintext_backup_is_refused_once_encryption_is_on(
    tmp_path: Path, backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOWOPS_BACKUP_SIGNING_KEY", "s" * 40)
    assert invoke(cli, "run", "--database-url", make_app_db(tmp_path / "app.db"), "--quiet")[0] == 0
    monkeypatch.setenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", new_key())
    code, out = invoke(cli, "verify", "--quiet")
    assert code == 1 and "is not encrypted, but GLOWOPS_BACKUP_ENCRYPTION_KEY is set" in out


def test_edited_and_relabelled_backups_fail(
    tmp_path: Path, backup_env: Path, keyed: str, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_app_db(tmp_path / "app.db")
    assert invoke(cli, "run", "--database-url", url, "--quiet")[0] == 0
    assert invoke(cli, "run", "--database-url", url, "--quiet")[0] == 0
    old, new = (m["id"] for m in manifests(backup_env))

    # The old backup's file under the newer id, the manifest's size and sha256 made to match.
    stored = "db.sqlite.gz.enc"
    shutil.copy(backup_env / old / stored, backup_env / new / stored)
    manifest_path = backup_env / new / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    old_files = json.loads((backup_env / old / "manifest.json").read_text())["files"]
    manifest["files"], manifest["sha256"] = old_files, old_files[0]["sha256"]
    manifest_path.write_text(json.dumps(manifest))
    code, out = invoke(cli, "verify", new, "--quiet")
    assert code == 1 and "the manifest signature does not match" in out

    # Re-signing is impossible without the key; a wholesale copy of the old backup under the new
    # id (its manifest still naming the old id) is not a backup of that id.
    shutil.rmtree(backup_env / new)
    shutil.copytree(backup_env / old, backup_env / new)
    code, out = invoke(cli, "verify", new, "--quiet")
    assert code == 1 and f"no backup {new!r}" in out
    assert invoke(cli, "verify", old, "--quiet")[0] == 0  # the original is untouched


def test_key_rotation_old_keys_verify_the_new_key_signs(
    tmp_path: Path, backup_env: Path, keyed: str, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_app_db(tmp_path / "app.db")
    assert invoke(cli, "run", "--database-url", url, "--quiet")[0] == 0
    first = manifests(backup_env)[0]
    monkeypatch.setenv("GLOWOPS_BACKUP_ENCRYPTION_KEY", new_key())
    monkeypatch.setenv("GLOWOPS_BACKUP_OLD_KEYS", keyed)
    assert invoke(cli, "run", "--database-url", url, "--quiet")[0] == 0
    second = manifests(backup_env)[1]
    assert first["signature"]["key_id"] != second["signature"]["key_id"]
    assert first["encryption_key_id"] != second["encryption_key_id"]
    for backup_id in (first["id"], second["id"]):
        code, out = invoke(cli, "verify", backup_id, "--quiet")
        assert code == 0, out
    target = tmp_path / "restored.db"
    code, out = invoke(cli, "restore", first["id"], "--to", f"sqlite:///{target}", "--yes")
    assert code == 0 and "main.users: 301 rows" in out

    code, out = invoke(cli, "keys")
    assert code == 0
    assert second["signature"]["key_id"] in out and "GLOWOPS_BACKUP_OLD_KEYS" in out
    assert keyed not in out  # ids only, never a key

    monkeypatch.delenv("GLOWOPS_BACKUP_OLD_KEYS")  # the retired key dropped too early
    code, out = invoke(cli, "verify", first["id"], "--quiet")
    assert code == 1 and "neither the current key nor one of GLOWOPS_BACKUP_OLD_KEYS" in out


def test_short_signing_key_is_refused(
    backup_env: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOWOPS_BACKUP_SIGNING_KEY", "short")
    code, out = invoke(cli, "run", "--database-url", "sqlite:///nowhere.db", "--quiet")
    assert code == 1 and "GLOWOPS_BACKUP_SIGNING_KEY must be at least 32 characters" in out


def test_a_planted_backup_neither_freshens_the_status_nor_displaces_a_real_one(
    tmp_path: Path, backup_env: Path, keyed: str, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(cli, "run", "--database-url", make_app_db(tmp_path / "app.db"), "--quiet")[0] == 0
    (real,) = [m["id"] for m in manifests(backup_env)]
    planted = plant_plaintext_backup(tmp_path, backup_env, cli, monkeypatch)  # newer id, unsigned
    assert planted > real
    code, out = invoke(cli, "status", "--json")
    assert json.loads(out)["last_good"] == real
    monkeypatch.setenv("GLOWOPS_BACKUP_KEEP_DAILY", "1")
    code, out = invoke(cli, "prune")
    assert code == 0 and f"keep   {real}" in out and planted not in out
    assert (backup_env / real / "manifest.json").is_file() and (backup_env / planted).is_dir()
