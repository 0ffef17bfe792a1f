"""Backup freshness in /health/dependencies: read from the real backup store, never critical."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from health_helpers import asgi_client, make_app, settings_with

from glowops.cli import app as cli_app

pytestmark = pytest.mark.anyio
HEALTH_JSON = {"accept": "application/health+json"}


async def dependencies(settings: dict[str, object]) -> tuple[int, dict[str, object]]:
    app, health = make_app(settings_with(settings, health_backup_check=True))
    async with asgi_client(app) as client:
        answer = await client.get("/health/dependencies", headers=HEALTH_JSON)
    await health.runner.aclose()
    return answer.status_code, answer.json()


def backup_once(database: Path, backups: Path) -> Path:
    """``glowops backup run`` of a small SQLite database; the new backup's manifest.

    Called in a worker thread: the command runs its own event loop.
    """
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    result = CliRunner().invoke(
        cli_app,
        ["backup", "run", "--database-url", f"sqlite:///{database}", "--quiet"],
        env={"GLOWOPS_BACKUP_DIR": str(backups)},
    )
    assert result.exit_code == 0, result.output
    [manifest] = sorted(backups.glob("*/manifest.json"))
    return manifest


async def test_no_backup_yet_is_a_warning_not_an_outage(
    base_settings: dict[str, object], tmp_path: Path
) -> None:
    status, body = await dependencies({**base_settings, "backup_dir": tmp_path / "backups"})
    assert status == 200
    assert body["status"] == "warn"
    [check] = body["checks"]["backup:freshness"]  # type: ignore[index]
    assert check["status"] == "warn" and check["output"] == "no good backup found"


async def test_a_fresh_backup_passes_with_its_age(base_settings: dict[str, object], tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    await anyio.to_thread.run_sync(backup_once, tmp_path / "app.db", backups)
    status, body = await dependencies({**base_settings, "backup_dir": backups})
    assert status == 200 and body["status"] == "pass", body
    [check] = body["checks"]["backup:freshness"]  # type: ignore[index]
    assert check["observedUnit"] == "h" and 0 <= check["observedValue"] < 0.1


async def test_a_three_day_old_backup_fails_the_check_but_not_readiness(
    base_settings: dict[str, object], tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    manifest_path = await anyio.to_thread.run_sync(backup_once, tmp_path / "app.db", backups)
    manifest = json.loads(manifest_path.read_text())
    three_days_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
    manifest["started_at"] = manifest["finished_at"] = three_days_ago
    manifest_path.write_text(json.dumps(manifest))
    os.utime(manifest_path)

    status, body = await dependencies({**base_settings, "backup_dir": backups})
    assert status == 200  # non-critical: a stale backup must not pull instances out of rotation
    [check] = body["checks"]["backup:freshness"]  # type: ignore[index]
    assert check["status"] == "fail" and check["output"] == "backup is too old"
    assert 71.9 < check["observedValue"] < 72.1
