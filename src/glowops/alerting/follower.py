"""What a worker that does not lead sees of the embedded alert engine: the leader's samples and
alerts, read from the state file the leader writes.

Under ``serve --workers N`` one worker runs the engine (:mod:`glowops.alerting.supervisor`); a
request for the console lands on any worker. The leader flushes its samples to
``state_dir/alerting.db`` at every scrape, and saves its alert state at every evaluation; a
:class:`FollowerAlerting` reads the new rows of both (:meth:`TSDB.catch_up
<glowops.promql.tsdb.TSDB.catch_up>`), at most once per ``refresh_seconds``. It has the
attributes of :class:`~glowops.alerting.service.EmbeddedAlerting` the console reads (``store``,
``engine.alerts()``, ``state``), so the console serves the same pages from any worker, one
scrape behind the leader. Silences and acknowledgements written here go to the same file, where
the leader reads them.

Only workers on the leader's host share its file: a replica on another host that does not lead
shows what its own file holds (nothing, if it never led).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from glowops.alerting.engine import Alert
from glowops.alerting.outbox import connect
from glowops.alerting.service import ENGINE_STATE_KEY
from glowops.alerting.state import StateStore, state_path
from glowops.promql.tsdb import TSDB
from glowops.redaction import default_policy
from glowops.settings import Settings

__all__ = ["FollowerAlerting"]


class _SavedAlerts:
    """The leader's pending and firing alerts as it last saved them."""

    def __init__(self, state: StateStore) -> None:
        self._state = state

    def alerts(self) -> list[Alert]:
        return [Alert.from_dict(saved) for saved in self._state.get(ENGINE_STATE_KEY, []) or []]


class FollowerAlerting:
    """A read view of the leader's engine, refreshed from its state file on use."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        refresh_seconds: float | None = None,
    ) -> None:
        self.clock = clock
        self.refresh_seconds = (
            settings.scrape_interval_seconds if refresh_seconds is None else refresh_seconds
        )
        self.db: sqlite3.Connection = connect(state_path(settings))
        self.state = StateStore(self.db, default_policy(settings))  # comments pass redaction too
        self.engine = _SavedAlerts(self.state)
        self._store = TSDB(round(settings.sample_retention_hours * 3600 * 1000))
        self._read_at: float | None = None

    @property
    def store(self) -> TSDB:
        """The leader's samples as of its last flush (read again when ``refresh_seconds`` passed)."""
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.refresh_seconds:
            self._store.catch_up(self.db, round(now * 1000))
            self._read_at = now
        return self._store

    def close(self) -> None:
        self.db.close()
