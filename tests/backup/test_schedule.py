"""The backup schedule: one pass does what is due; the leader runs it; the CLI runs it once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from glowops.alerting.supervisor import AlertingSupervisor
from glowops.backup.schedule import BackupScheduler, run_pass
from glowops.backup.store import open_store
from glowops.cli import app as glowops_cli
from glowops.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _database(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY, amount REAL)")
        conn.executemany("INSERT INTO ledger (amount) VALUES (?)", [(1.5,), (2.5,)])
    return f"sqlite:///{path}"


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        state_dir=tmp_path / "var",
        backup_database_url=_database(tmp_path / "app.db"),
        scrape_interval_seconds=60,
        evaluation_interval_seconds=60,
        **extra,
    )  # type: ignore[arg-type]


async def test_a_first_pass_backs_up_and_drills_and_a_second_finds_nothing_due(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    store = open_store(settings)
    first = await run_pass(settings, store)
    assert not first.failed, first.errors
    assert " backup " in first.lines[0] and ": ok (" in first.lines[0]
    assert any("prune: 0 removed" in line for line in first.lines)
    assert any(" drill of " in line and line.endswith("passed") for line in first.lines)
    (entry,) = store.entries()
    assert entry.manifest.good and entry.verified
    second = await run_pass(settings, store)
    assert second.lines == [] and not second.failed  # a good backup of today, a passed drill


async def test_a_failed_backup_is_reported_and_skips_the_drill(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "var", backup_database_url=f"sqlite:///{tmp_path / 'missing' / 'none.db'}"
    )
    report = await run_pass(settings, open_store(settings))
    assert report.failed and len(report.errors) == 1
    assert "backup failed" in report.errors[0] and "drill" not in " ".join(report.lines)


async def test_the_scheduler_keeps_running_after_a_failing_pass(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    calls: list[int] = []
    slept = asyncio.Event()

    def broken_store(_: Settings) -> object:
        calls.append(1)
        raise OSError("the backup volume is not mounted")

    async def sleep(seconds: float) -> None:
        if len(calls) >= 2:
            slept.set()
            await asyncio.Event().wait()  # park the loop: the test has seen two passes

    scheduler = BackupScheduler(settings, broken_store, check_every=900, sleep=sleep)  # type: ignore[arg-type]
    scheduler.start()
    await asyncio.wait_for(slept.wait(), 30)
    await scheduler.stop()
    assert len(calls) == 2  # the first failure did not end the loop


async def test_the_leader_runs_the_schedule_only_when_backups_are_configured(tmp_path: Path) -> None:
    configured = AlertingSupervisor(_settings(tmp_path / "a"), retry_seconds=3600)
    await configured.start()
    try:
        assert configured.alerting is not None and configured.backups is not None
        for _ in range(600):  # bounded wait for the first pass, on its own condition
            if configured.backups.passes:
                break
            await asyncio.sleep(0.05)
        assert configured.backups.last is not None and not configured.backups.last.failed
        assert open_store(configured.settings).entries()[0].verified
    finally:
        await configured.stop()
    assert configured.backups is None

    bare = AlertingSupervisor(Settings(state_dir=tmp_path / "b"), retry_seconds=3600)
    await bare.start()
    try:
        assert bare.alerting is not None and bare.backups is None
    finally:
        await bare.stop()


def test_the_cli_runs_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GLOWOPS_BACKUP_DATABASE_URL", _database(tmp_path / "app.db"))
    for name in ("GLOWOPS_BACKUP_DIR", "GLOWOPS_BACKUP_S3_BUCKET", "GLOWOPS_BACKUP_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    done = CliRunner().invoke(glowops_cli, ["backup", "schedule", "--once"])
    assert done.exit_code == 0, done.output
    assert " backup " in done.output and "passed" in done.output
    again = CliRunner().invoke(glowops_cli, ["backup", "schedule", "--once"])
    assert again.exit_code == 0 and again.output.strip() == ""
