"""The state of the backup store in one object: what ``status``, the metrics and the health
check report."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from glowops.backup.manifest import Manifest, parse_iso
from glowops.backup.retention import Item, RetentionPolicy, compliance
from glowops.backup.store import BackupEntry

MAX_AGE_HOURS = 26.0  # a daily backup plus slack, as the BackupStale alert


def retention_items(entries: Sequence[BackupEntry]) -> list[Item]:
    return [Item(e.id, e.manifest.started, e.manifest.good, e.verified, e.verifying) for e in entries]


@dataclass(slots=True)
class StoreStatus:
    """Summary of the store at ``now``."""

    now: datetime
    good: list[Manifest] = field(default_factory=list)
    failed: list[Manifest] = field(default_factory=list)
    last_verify: dict[str, Any] | None = None  # the most recent drill report, passed or not
    last_verified_backup: Manifest | None = None  # newest backup whose drill passed
    last_verified_at: datetime | None = None  # when a drill last passed
    retention_problems: list[str] = field(default_factory=list)

    @property
    def last_good(self) -> Manifest | None:
        return self.good[-1] if self.good else None

    @property
    def last_failure(self) -> Manifest | None:
        return self.failed[-1] if self.failed else None

    def age_seconds(self, manifest: Manifest | None) -> float | None:
        return None if manifest is None else (self.now - manifest.finished).total_seconds()

    @property
    def last_good_age(self) -> float | None:
        return self.age_seconds(self.last_good)

    @property
    def recent_sizes(self) -> list[int]:
        return [m.size_bytes for m in self.good[-7:]]

    @property
    def size_median_7(self) -> float | None:
        return statistics.median(self.recent_sizes) if self.good else None

    @property
    def compliant(self) -> bool:
        return not self.retention_problems

    def stale(self, max_age_hours: float = MAX_AGE_HOURS) -> bool:
        age = self.last_good_age
        return age is None or age > max_age_hours * 3600


def summarize(
    entries: Sequence[BackupEntry],
    policy: RetentionPolicy,
    now: datetime,
    reports_from: Sequence[BackupEntry] | None = None,
) -> StoreStatus:
    """The status of ``entries`` (the authentic ones); the latest verification is read from
    ``reports_from`` (every entry), so a refused, planted backup shows as a failed verify."""
    status = StoreStatus(now=now)
    for entry in entries:
        (status.good if entry.manifest.good else status.failed).append(entry.manifest)
    trusted_ids = {e.id for e in entries}
    reports = [
        (parse_iso(str(e.report["verified_at"])), e)
        for e in (entries if reports_from is None else reports_from)
        if e.report and e.report.get("verified_at")
    ]
    if reports:
        reports.sort(key=lambda pair: pair[0])
        status.last_verify = reports[-1][1].report  # a failed verify of any backup counts
        passed = [pair for pair in reports if pair[1].verified and pair[1].id in trusted_ids]
        if passed:
            status.last_verified_at = passed[-1][0]
            status.last_verified_backup = max((p[1] for p in passed), key=lambda e: e.id).manifest
    status.retention_problems = compliance(retention_items(entries), policy, now)
    return status


def policy_of(settings: Any) -> RetentionPolicy:
    return RetentionPolicy(
        settings.backup_keep_daily, settings.backup_keep_weekly, settings.backup_keep_monthly
    )
