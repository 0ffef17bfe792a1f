"""Runs the leader's duties in the one process that holds the alerting leadership: the embedded
alert engine and, when backups are configured, the backup schedule (daily backup and prune,
monthly restore drill), so that what the embedded default alerts on, it also runs.

``glowops.instrument()`` starts a supervisor in the app's lifespan when embedded alerting is on.
It tries to become leader at once (so a single process starts its engine before serving) and
then, every ``retry_seconds``: a follower tries again (so when the leader's worker or replica
dies, another one takes over within that time, instead of only at its next restart), and the
leader checks that its locks are still held (a PostgreSQL session that dropped loses its
advisory lock: the engine stops rather than run beside a new leader).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from glowops.alerting.leader import Leadership, acquire_alerting_leadership
from glowops.settings import Settings

log = logging.getLogger("glowops.alerting")

DEFAULT_RETRY_SECONDS = 30.0


class AlertingSupervisor:
    """Owns the leadership and the engine of one process; ``on_change`` sees the engine come and go."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        on_change: Callable[[Any], None] = lambda alerting: None,
    ) -> None:
        self.settings = settings
        self.retry_seconds = retry_seconds
        self.on_change = on_change
        self.leadership: Leadership | None = None
        self.alerting: Any = None  # the EmbeddedAlerting while this process leads
        self.backups: Any = None  # the BackupScheduler while this process leads (backups configured)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One attempt now, then the retry loop in the background."""
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="glowops-alerting-supervisor")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            try:
                await self._step()
            except Exception:  # the loop must outlive one bad attempt; the next one retries
                log.exception("embedded alerting: leadership step failed")

    async def _step(self) -> None:
        if self.leadership is None:
            try:
                self.leadership = await acquire_alerting_leadership(self.settings)
            except Exception as err:  # a database that cannot be reached: no engine rather than two
                log.warning(
                    "embedded alerting: cannot take the leadership lock (%s); retrying in %.0f s",
                    type(err).__name__,
                    self.retry_seconds,
                )
                return
            if self.leadership is not None:
                await self._start_engine()
        elif not await self.leadership.still_held():
            log.warning("embedded alerting: leadership lost (database session gone); engine stopped")
            await self._stop_engine()

    async def _start_engine(self) -> None:
        from glowops.alerting.service import start_embedded_alerting  # ~0.7 s of imports, once

        alerting = start_embedded_alerting(self.settings)
        await alerting.start()
        self.alerting = alerting
        self.on_change(alerting)
        log.info("embedded alerting: this process leads and runs the engine")
        if self.settings.backups_configured:
            from glowops.backup.schedule import BackupScheduler

            self.backups = BackupScheduler(self.settings)
            self.backups.start()
            log.info("backup schedule: this process leads and runs the daily backup and monthly drill")

    async def _stop_engine(self) -> None:
        alerting, self.alerting = self.alerting, None
        backups, self.backups = self.backups, None
        leadership, self.leadership = self.leadership, None
        self.on_change(None)
        try:
            if backups is not None:
                await backups.stop()
            if alerting is not None:
                await alerting.stop()
        finally:
            if leadership is not None:
                await leadership.release()

    async def stop(self) -> None:
        """Stop the loop and the engine, persist its state, release the locks."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_engine()
