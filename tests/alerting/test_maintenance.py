"""Maintenance windows from the on-call file: suppress and count during, release after."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from embedded_helpers import T0
from receivers import http_receiver
from test_oncall import harness, pages

from glowops.alerting.maintenance import parse_windows
from glowops.alerting.schedule import ScheduleError

pytestmark = pytest.mark.anyio


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def slack_statuses(rx: Any) -> list[str]:
    return [r.body["text"].split("]")[0] for r in rx.requests if r.path == "/slack"]


async def test_a_window_suppresses_and_counts_then_releases_what_still_fires(tmp_path: Path) -> None:
    window = {"name": "db upgrade", "matchers": ["service=gateway"], "from": iso(T0), "to": iso(T0 + 1800)}
    with http_receiver() as rx:
        h = harness(tmp_path, rx, maintenance=[window])
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(29 * 60)
        assert pages(rx) == [] and slack_statuses(rx) == []  # nobody is paged or told
        assert h.service.state.get("maintenance.suppressed") == {"db upgrade": 1}  # counted once
        await h.run(60 + 30 + 15)  # the window ends; the group waits its group_wait
        assert pages(rx) == ["/alice"]  # the escalation starts now, at level 1
        assert slack_statuses(rx) == ["[FIRING:1"]
        await h.run(14 * 60)
        assert pages(rx) == ["/alice"]  # 15 minutes from the window's end, not from the firing
        await h.close()


async def test_a_resolve_during_a_window_is_sent_after_it(tmp_path: Path) -> None:
    window = {
        "name": "restart",
        "matchers": ["alertname=CheckoutDown"],
        "from": iso(T0 + 600),
        "to": iso(T0 + 1200),
    }
    with http_receiver() as rx:
        h = harness(tmp_path, rx, maintenance=[window])
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(5 * 60)
        assert slack_statuses(rx) == ["[FIRING:1"]
        await h.run(6 * 60)  # inside the window
        h.metrics.gauge("glowops_disk_used_ratio", 0.1)  # resolves inside it
        await h.run(5 * 60)
        assert slack_statuses(rx) == ["[FIRING:1"]
        await h.run(5 * 60)  # the window is over: the resolve goes out
        assert slack_statuses(rx) == ["[FIRING:1", "[RESOLVED"]
        await h.close()


def test_recurring_windows_follow_their_time_zone() -> None:
    from zoneinfo import ZoneInfo

    (w,) = parse_windows(
        [
            {
                "name": "sunday",
                "matchers": ["service=gateway"],
                "days": "sun",
                "start": "02:00",
                "duration": "2h",
                "time_zone": "Europe/Berlin",
            }
        ],
        ZoneInfo("UTC"),
    )
    berlin = ZoneInfo("Europe/Berlin")
    # Sunday 2026-03-29 is Berlin's spring DST change: 02:00 does not exist, the window opens at 03:00
    assert w.active(datetime(2026, 3, 22, 2, 30, tzinfo=berlin).timestamp())
    assert not w.active(datetime(2026, 3, 22, 4, 0, tzinfo=berlin).timestamp())
    assert not w.active(datetime(2026, 3, 23, 2, 30, tzinfo=berlin).timestamp())  # Monday
    assert w.matches({"service": "gateway"}) and not w.matches({"service": "worker"})
    nxt = w.next_occurrences(datetime(2026, 3, 23, tzinfo=berlin).timestamp(), 2)
    assert [datetime.fromtimestamp(a, berlin).strftime("%a %H:%M") for a, _ in nxt] == [
        "Sun 03:00",
        "Sun 02:00",
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"matchers": []}], "non-empty list"),
        ([{"matchers": ["nonsense"]}], "not a label matcher"),
        ([{"matchers": ["a=b"], "from": "2026-01-01"}], "both 'from' and 'to'"),
        ([{"matchers": ["a=b"], "from": "2026-01-02", "to": "2026-01-01"}], "after 'from'"),
        ([{"matchers": ["a=b"], "days": "sun"}], "'days', 'start' and 'duration'"),
        ([{"matchers": ["a=b"], "days": "sun", "start": "02:00", "duration": "8d"}], "between 1s and 7d"),
        ({"matchers": ["a=b"]}, "must be a list"),
    ],
)
def test_a_bad_window_is_a_clear_error(raw: Any, message: str) -> None:
    from zoneinfo import ZoneInfo

    with pytest.raises(ScheduleError, match=message):
        parse_windows(raw, ZoneInfo("UTC"))
