"""Backup metrics and the freshness check, computed from a backup store's manifests."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from glowops.backup.manifest import Manifest, iso
from glowops.backup.monitoring import check_backup_freshness, register_backup_collector
from glowops.backup.store import LocalStore
from glowops.settings import Settings


def add(store: LocalStore, ago: timedelta, size: int, status: str = "ok", suffix: str = "") -> Manifest:
    started = datetime.now(UTC) - ago
    manifest = Manifest(
        id=started.strftime("%Y%m%dT%H%M%SZ") + "-" + (suffix or "aaaa"),
        kind="postgresql",
        status=status,  # type: ignore[arg-type]
        started_at=iso(started),
        finished_at=iso(started + timedelta(seconds=30)),
        duration_seconds=30.0,
        size_bytes=size,
        tables={"public.t": 1},
    )
    folder = store.root / manifest.id
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(manifest.to_json())
    return manifest


def test_collector_exposes_the_store(tmp_path: Path) -> None:
    settings = Settings(backup_dir=tmp_path, backup_keep_daily=7)
    store = LocalStore(tmp_path)
    sizes = [1000, 1100, 900, 1200, 1000, 1050, 980, 400]  # the newest dropped to less than half
    made = [add(store, timedelta(days=len(sizes) - 1 - n, hours=1), size) for n, size in enumerate(sizes)]
    failed = add(store, timedelta(minutes=30), 0, status="failed", suffix="ffff")
    verified = made[-2]
    (store.root / verified.id / "drill-report.json").write_text(
        json.dumps(
            {"ok": True, "verified_at": iso(datetime.now(UTC) - timedelta(hours=2)), "restore_seconds": 42.5}
        )
    )

    registry = CollectorRegistry()
    register_backup_collector(settings, registry=registry, ttl=0)

    def value(name: str) -> float | None:
        return registry.get_sample_value(name)

    assert value("glowops_backup_store_up") == 1
    assert value("glowops_backup_last_success_timestamp_seconds") == made[-1].finished.timestamp()
    assert value("glowops_backup_last_failure_timestamp_seconds") == failed.finished.timestamp()
    assert value("glowops_backup_size_bytes") == 400
    assert value("glowops_backup_size_median_7_bytes") == 1000  # median of the last seven good sizes
    assert value("glowops_backup_size_bytes") < 0.5 * value("glowops_backup_size_median_7_bytes")  # type: ignore[operator]
    assert value("glowops_backup_duration_seconds") == 30
    assert value("glowops_backup_last_verify_success") == 1
    assert value("glowops_backup_drill_restore_seconds") == 42.5
    assert value("glowops_backup_retention_compliant") == 0  # 8 daily backups, policy 7: prune due
    text = generate_latest(registry).decode()
    assert "# HELP glowops_backup_size_median_7_bytes" in text

    # A failed drill flips the verify gauge; the timestamp keeps the last *successful* drill.
    (store.root / made[-1].id / "drill-report.json").write_text(
        json.dumps({"ok": False, "verified_at": iso(datetime.now(UTC)), "restore_seconds": None})
    )
    assert value("glowops_backup_last_verify_success") == 0
    assert value("glowops_backup_last_verify_timestamp_seconds") == pytest.approx(
        (datetime.now(UTC) - timedelta(hours=2)).timestamp(), abs=5
    )


def test_collector_without_backups_and_with_an_unreadable_store(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    register_backup_collector(Settings(backup_dir=tmp_path / "none"), registry=registry, ttl=0)
    assert registry.get_sample_value("glowops_backup_last_success_timestamp_seconds") == 0
    assert registry.get_sample_value("glowops_backup_size_bytes") is None

    broken = CollectorRegistry()
    settings = Settings(
        backup_s3_bucket="b", backup_s3_endpoint_url="http://127.0.0.1:9", backup_dir=tmp_path
    )
    register_backup_collector(settings, registry=broken, ttl=0)
    assert broken.get_sample_value("glowops_backup_store_up") == 0


@pytest.mark.parametrize(
    ("ago", "expected"),
    [(timedelta(hours=3), "pass"), (timedelta(hours=30), "warn"), (timedelta(hours=60), "fail")],
)
def test_freshness_check(tmp_path: Path, ago: timedelta, expected: str) -> None:
    store = LocalStore(tmp_path)
    add(store, ago, 100)
    add(store, timedelta(minutes=1), 0, status="failed", suffix="ffff")  # a later failure does not count
    status, age = asyncio.run(check_backup_freshness(Settings(backup_dir=tmp_path)))
    assert status == expected
    assert age == pytest.approx(ago.total_seconds() - 30, abs=5)


def test_freshness_check_without_backups(tmp_path: Path) -> None:
    assert asyncio.run(check_backup_freshness(Settings(backup_dir=tmp_path))) == ("fail", math.inf)
