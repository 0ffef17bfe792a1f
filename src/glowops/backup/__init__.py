"""Backups proven by restoring them: pg_dump / SQLite online backup, manifests, local or S3
stores, encryption at rest, GFS retention, restore drills, restore, metrics and health.

::

    from glowops.backup import run_backup, verify_backup, open_store
    store = open_store(settings)
    manifest = await run_backup(settings, store)          # BackupError with the reason on failure
    report = await verify_backup(settings, store)         # checksum, TOC, restore drill

Command line: ``glowops backup --help``. Monitoring: :mod:`glowops.backup.monitoring`.
Names are imported on first use, so ``glowops`` start-up does not pay for all of them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BackupError": "glowops.backup.errors",
    "BackupStore": "glowops.backup.store",
    "LocalStore": "glowops.backup.store",
    "S3Store": "glowops.backup.store",
    "open_store": "glowops.backup.store",
    "DrillReport": "glowops.backup.drill",
    "verify_backup": "glowops.backup.drill",
    "Manifest": "glowops.backup.manifest",
    "check_backup_freshness": "glowops.backup.monitoring",
    "register_backup_collector": "glowops.backup.monitoring",
    "restore_backup": "glowops.backup.restore",
    "RetentionPolicy": "glowops.backup.retention",
    "plan_retention": "glowops.backup.retention",
    "RunOptions": "glowops.backup.runner",
    "run_backup": "glowops.backup.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'glowops.backup' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
