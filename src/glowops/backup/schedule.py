"""The backup schedule: a daily backup, a prune after it, and a monthly restore drill."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from glowops.backup.status import StoreStatus

BACKUP_EVERY = timedelta(hours=24)
DRILL_EVERY = timedelta(days=30)


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


def sleep_until_next(check_every: float, sleep: Callable[[float], None] = time.sleep) -> None:
    sleep(check_every)
