"""Daily / weekly / monthly ("grandfather-father-son") retention, as a pure function of the
backup history and a clock, so it can be tested on a synthetic history.

Rules (a backup is kept when any rule selects it):

- daily N: for the N most recent UTC calendar days that have a good backup, the newest backup
  of that day;
- weekly N: the same over ISO weeks; monthly N: over calendar months;
- always: the newest good backup, the newest *verified* backup (a drill proved it restores), and
  any backup a running ``verify`` holds;
- failed runs are records for monitoring only: they go once older than the daily window (and at
  least a day old).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12


@dataclass(frozen=True, slots=True)
class Item:
    """What retention needs to know about one backup."""

    id: str
    created: datetime
    good: bool
    verified: bool = False
    verifying: bool = False


@dataclass(slots=True)
class Plan:
    """The outcome: ids to keep (with the reasons) and ids to remove, oldest first."""

    keep: dict[str, list[str]] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)


def _select(good: Sequence[Item], count: int, period: Callable[[datetime], Hashable]) -> list[Item]:
    """The newest item of each of the ``count`` most recent periods (``good`` is newest first)."""
    chosen: list[Item] = []
    seen: set[Hashable] = set()
    for item in good:
        if len(seen) >= count:
            break
        key = period(item.created)
        if key not in seen:
            seen.add(key)
            chosen.append(item)
    return chosen


def plan_retention(items: Sequence[Item], policy: RetentionPolicy, now: datetime) -> Plan:
    """Which backups the policy keeps at ``now`` and which it removes."""
    plan = Plan()

    def keep(item: Item, reason: str) -> None:
        plan.keep.setdefault(item.id, []).append(reason)

    good = sorted((i for i in items if i.good), key=lambda i: i.created, reverse=True)
    for item in _select(good, policy.daily, lambda t: t.date()):
        keep(item, "daily")
    for item in _select(good, policy.weekly, lambda t: t.isocalendar()[:2]):
        keep(item, "weekly")
    for item in _select(good, policy.monthly, lambda t: (t.year, t.month)):
        keep(item, "monthly")
    if good:
        keep(good[0], "newest")
    verified = [i for i in good if i.verified]
    if verified:
        keep(verified[0], "newest verified")
    failed_horizon = now - timedelta(days=max(policy.daily, 1))
    for item in items:
        if item.verifying:
            keep(item, "being verified")
        elif not item.good and item.created >= failed_horizon:
            keep(item, "recent failure record")
    plan.remove = [i.id for i in sorted(items, key=lambda i: i.created) if i.id not in plan.keep]
    return plan


def compliance(items: Sequence[Item], policy: RetentionPolicy, now: datetime) -> list[str]:
    """Ways the store does not meet the policy; empty when compliant.

    - over-retention: a backup the policy removes is still there (prune has not run or failed);
    - a daily gap: within the daily window ending on the newest good backup's day (and not
      before the first good backup), a day without a good backup.
    """
    problems: list[str] = []
    good = sorted((i for i in items if i.good), key=lambda i: i.created)
    if not good:
        return ["no good backup"]
    plan = plan_retention(items, policy, now)
    extra = [i for i in plan.remove if any(g.id == i for g in good)]
    if extra:
        problems.append(f"{len(extra)} backup(s) older than the policy allows (run `glowops backup prune`)")
    days = {i.created.date() for i in good}
    newest, first = good[-1].created.date(), good[0].created.date()
    window = [newest - timedelta(days=n) for n in range(policy.daily)]
    missing = sorted(d for d in window if d >= first and d not in days)
    if missing:
        problems.append("no good backup on " + ", ".join(d.isoformat() for d in missing))
    return problems
