"""The backup schedule: a daily backup, a prune after it, and a monthly restore drill.

One pass (:func:`run_pass`) decides from the store what is due and does it. Two things run
passes: ``glowops backup schedule`` (cron, a Kubernetes CronJob, or a loop), and, in the embedded
default, :class:`BackupScheduler` in the process that leads the embedded alert engine (the same
leader election), so a service that alerts on its backups also takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from glowops.backup.errors import BackupError
from glowops.backup.keys import trusted
from glowops.backup.status import StoreStatus, policy_of, retention_items, summarize

if TYPE_CHECKING:
    from glowops.backup.store import BackupStore
    from glowops.settings import Settings

BACKUP_EVERY = timedelta(hours=24)
DRILL_EVERY = timedelta(days=30)
CHECK_EVERY_SECONDS = 900.0

log = logging.getLogger("glowops.backup")


@dataclass(frozen=True, slots=True)
class Due:
    backup: bool
    drill: bool


def due(
    status: StoreStatus,
    now: datetime | None = None,
    backup_every: timedelta = BACKUP_EVERY,
    drill_every: timedelta = DRILL_EVERY,
    slack: timedelta = timedelta(hours=1),
) -> Due:
    """What the schedule should do now. ``slack`` lets a backup that took a few minutes longer
    yesterday not push today's run by a whole interval."""
    moment = now or datetime.now(UTC)
    good = status.last_good
    backup = good is None or moment - good.started >= backup_every - slack
    drill = status.last_verified_at is None or moment - status.last_verified_at >= drill_every - slack
    return Due(backup, drill)


@dataclass(slots=True)
class PassReport:
    """What one pass did, as lines for a log or a terminal; ``failed`` when a step failed."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


async def run_pass(
    settings: Settings,
    store: BackupStore,
    *,
    show_progress: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PassReport:
    """Back up when the newest good backup is ~24 h old (then prune), and run the restore drill
    when none passed in the last 30 days. A failed backup skips the prune and the drill."""
    from glowops.backup.drill import verify_backup
    from glowops.backup.progress import human_bytes
    from glowops.backup.retention import plan_retention
    from glowops.backup.runner import RunOptions, run_backup

    report = PassReport()
    started = now()
    todo = due(await asyncio.to_thread(_status, settings, store, started), started)
    if todo.backup:
        try:
            manifest = await run_backup(settings, store, RunOptions(show_progress=show_progress))
            size = human_bytes(manifest.size_bytes)
            report.lines.append(f"{now().isoformat()} backup {manifest.id}: ok ({size})")
        except BackupError as err:
            report.errors.append(f"{now().isoformat()} backup failed: {err}")
            return report
        entries = trusted(settings, await asyncio.to_thread(store.entries))
        plan = plan_retention(retention_items(entries), policy_of(settings), now())
        for backup_id in plan.remove:
            await asyncio.to_thread(store.delete, backup_id)
        report.lines.append(f"{now().isoformat()} prune: {len(plan.remove)} removed")
    if todo.drill:
        try:
            drill = await verify_backup(settings, store, show_progress=show_progress)
        except BackupError as err:
            report.errors.append(f"{now().isoformat()} drill failed: {err}")
            return report
        line = f"{now().isoformat()} drill of {drill.backup_id}: " + (
            "passed" if drill.ok else f"FAILED: {drill.failure}"
        )
        (report.lines if drill.ok else report.errors).append(line)
    return report


def _status(settings: Settings, store: BackupStore, moment: datetime) -> StoreStatus:
    return summarize(trusted(settings, store.entries()), policy_of(settings), moment)


class BackupScheduler:
    """Runs :func:`run_pass` at once and then every ``check_every`` seconds, in the leader.

    ``sleep`` is injectable so tests drive the loop; a pass that raises is logged and the next
    one retries (a full disk today must not end tomorrow's backups).
    """

    def __init__(
        self,
        settings: Settings,
        store_factory: Callable[[Settings], BackupStore] | None = None,
        *,
        check_every: float = CHECK_EVERY_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        from glowops.backup.store import open_store

        self.settings = settings
        self.store_factory = store_factory or open_store
        self.check_every = check_every
        self.sleep = sleep
        self.passes = 0
        self.last: PassReport | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="glowops-backup-schedule")

    async def run_once(self) -> PassReport:
        """One pass now; its lines are logged (errors as warnings)."""
        store = await asyncio.to_thread(self.store_factory, self.settings)
        report = await run_pass(self.settings, store)
        for line in report.lines:
            log.info("backup schedule: %s", line)
        for line in report.errors:
            log.warning("backup schedule: %s", line)
        self.passes += 1
        self.last = report
        return report

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the schedule must outlive one bad pass; the next one retries
                log.exception("backup schedule: pass failed")
            await self.sleep(self.check_every)

    async def stop(self) -> None:
        """Cancel the loop; a backup in the middle of its run is recorded as interrupted."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
