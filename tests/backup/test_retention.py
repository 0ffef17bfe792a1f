"""Retention on a synthetic history with a fixed clock: exactly what the policy says is kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from glowops.backup.retention import Item, RetentionPolicy, compliance, plan_retention

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)  # a Sunday


def history(days: int = 400, **flags: dict[int, dict[str, bool]]) -> list[Item]:
    """One good backup a day at 02:00 UTC, the newest today; ``flags`` by days-ago."""
    items = []
    for ago in range(days):
        moment = (NOW - timedelta(days=ago)).replace(hour=2)
        extra = flags.get("extra", {}).get(ago, {})
        items.append(
            Item(
                f"b{moment:%Y%m%d}",
                moment,
                extra.get("good", True),
                extra.get("verified", False),
                extra.get("verifying", False),
            )
        )
    return items


def kept_dates(plan_keep: dict[str, list[str]]) -> set[date]:
    return {datetime.strptime(i[1:], "%Y%m%d").date() for i in plan_keep}


def test_400_days_keep_exactly_7_daily_4_weekly_12_monthly() -> None:
    items = history()
    plan = plan_retention(items, RetentionPolicy(7, 4, 12), NOW)
    daily = {date(2025, 6, d) for d in range(9, 16)}
    weekly = {
        date(2025, 6, 15),
        date(2025, 6, 8),
        date(2025, 6, 1),
        date(2025, 5, 25),
    }  # Sundays end ISO weeks
    monthly = {
        date(2025, 6, 15),
        date(2025, 5, 31),
        date(2025, 4, 30),
        date(2025, 3, 31),
        date(2025, 2, 28),
        date(2025, 1, 31),
        date(2024, 12, 31),
        date(2024, 11, 30),
        date(2024, 10, 31),
        date(2024, 9, 30),
        date(2024, 8, 31),
        date(2024, 7, 31),
    }
    assert kept_dates(plan.keep) == daily | weekly | monthly
    assert len(plan.keep) == 21
    assert len(plan.remove) == 400 - 21
    assert plan.keep["b20250615"] == ["daily", "weekly", "monthly", "newest"]
    assert plan.keep["b20240731"] == ["monthly"]


def test_newest_verified_backup_is_never_removed_even_when_old() -> None:
    items = history(extra={100: {"verified": True}, 300: {"verified": True}})
    plan = plan_retention(items, RetentionPolicy(7, 4, 12), NOW)
    verified_id = f"b{(NOW - timedelta(days=100)):%Y%m%d}"
    assert "newest verified" in plan.keep[verified_id]
    assert f"b{(NOW - timedelta(days=300)):%Y%m%d}" in plan.remove  # an older verified one may go


def test_backup_being_verified_is_kept_and_zero_policy_keeps_the_newest() -> None:
    items = history(30, extra={20: {"verifying": True}})
    plan = plan_retention(items, RetentionPolicy(0, 0, 0), NOW)
    assert set(plan.keep) == {"b20250615", f"b{(NOW - timedelta(days=20)):%Y%m%d}"}


def test_failed_runs_are_kept_only_inside_the_daily_window_and_never_count_as_daily() -> None:
    items = history(40, extra={0: {"good": False}, 20: {"good": False}})
    plan = plan_retention(items, RetentionPolicy(7, 4, 12), NOW)
    assert plan.keep["b20250615"] == ["recent failure record"]
    assert "b20250526" in plan.remove  # failed 20 days ago
    daily = [i for i, reasons in plan.keep.items() if "daily" in reasons]
    assert sorted(daily) == [
        f"b202506{d:02d}" for d in range(8, 15)
    ]  # 7 good days, today's failed run skipped


def test_several_backups_a_day_keep_the_newest_of_the_day() -> None:
    items = [Item(f"x{h}", NOW.replace(hour=h), True) for h in (1, 5, 9)]
    plan = plan_retention(items, RetentionPolicy(7, 4, 12), NOW)
    assert set(plan.keep) == {"x9"} and plan.remove == ["x1", "x5"]


def test_compliance() -> None:
    policy = RetentionPolicy(7, 4, 12)
    assert compliance([], policy, NOW) == ["no good backup"]
    pruned = [i for i in history() if i.id in plan_retention(history(), policy, NOW).keep]
    assert compliance(pruned, policy, NOW) == []
    over = compliance(history(), policy, NOW)
    assert over == ["379 backup(s) older than the policy allows (run `glowops backup prune`)"]
    gap = [i for i in pruned if i.id != "b20250612"]
    assert compliance(gap, policy, NOW) == ["no good backup on 2025-06-12"]
    young = history(3)  # a three-day-old installation has no gap
    assert compliance(young, policy, NOW) == []
