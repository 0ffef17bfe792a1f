"""Schedules: rotations handing off at local wall-clock time across DST, layers, overrides, business days."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from glowops.alerting.oncall import load_policy, parse_policy

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(*args: int, tz: ZoneInfo = UTC) -> float:  # type: ignore[assignment]
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[arg-type, misc]


POLICY = {
    "people": {
        "alice": {"email": "alice@example.com"},
        "bob": {"email": "bob@example.com"},
        "carol": {"webhook": "https://hooks.example.com/carol"},
        "dana": {"email": "dana@example.com"},
    },
    "schedules": {
        "primary": {
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "name": "weekly",
                    "people": ["alice", "bob"],
                    "handoff": "weekly",
                    "start": "2026-03-23T09:00",
                }
            ],
            "overrides": [
                {
                    "person": "carol",
                    "from": "2026-04-03T18:00",
                    "to": "2026-04-06T09:00",
                    "reason": "Easter swap",
                }
            ],
        },
        "daily": {
            "time_zone": "America/New_York",
            "layers": [
                {"people": ["alice", "bob", "carol"], "handoff": "daily", "start": "2026-10-30T08:00"},
                {
                    "name": "weekend days",
                    "people": ["dana"],
                    "handoff": "weekly",
                    "start": "2026-10-31T10:00",
                    "days": "sat-sun",
                    "from": "10:00",
                    "to": "16:00",
                },
            ],
        },
    },
    "levels": [{"schedule": "primary"}, {"person": "dana"}],
}


def test_a_weekly_handoff_stays_at_local_time_across_the_spring_dst_change() -> None:
    schedule = parse_policy(POLICY).schedules["primary"]
    # Berlin goes from UTC+1 to UTC+2 on Sunday 2026-03-29: Monday 09:00 is 07:00 UTC, not 08:00
    assert schedule.on_call(at(2026, 3, 23, 8, 0)) == "alice"  # 09:00 CET: alice's week starts
    assert schedule.on_call(at(2026, 3, 23, 7, 59)) is None  # before the rotation started
    assert schedule.on_call(at(2026, 3, 30, 6, 59)) == "alice"  # 08:59 CEST
    assert schedule.on_call(at(2026, 3, 30, 7, 0)) == "bob"  # 09:00 CEST
    first, second = schedule.segments(at(2026, 3, 23, 8, 0), at(2026, 3, 31))[:2]
    assert (first.person, second.person) == ("alice", "bob")
    assert first.end - first.start == 167 * 3600  # the week with the DST jump is an hour shorter
    assert second.start == at(2026, 3, 30, 9, 0, tz=BERLIN)


def test_a_daily_handoff_across_the_autumn_dst_change_and_a_restricted_layer() -> None:
    schedule = parse_policy(POLICY).schedules["daily"]
    # New York falls back on Sunday 2026-11-01: 08:00 EST is 13:00 UTC (it was 12:00 UTC on Saturday)
    assert schedule.on_call(at(2026, 10, 31, 12, 0)) == "bob"  # Saturday 08:00 EDT: day 2
    assert schedule.on_call(at(2026, 11, 1, 12, 30)) == "bob"  # Sunday 07:30 EST: still Saturday's turn
    assert schedule.on_call(at(2026, 11, 1, 13, 0)) == "carol"  # Sunday 08:00 EST
    assert schedule.on_call(at(2026, 11, 1, 15, 0)) == "dana"  # Sunday 10:00 EST: the weekend layer
    assert schedule.on_call(at(2026, 11, 1, 21, 0)) == "carol"  # 16:00: back to the daily rotation
    assert schedule.on_call(at(2026, 11, 2, 15, 0)) == "alice"  # Monday: no weekend layer
    rows = schedule.segments(at(2026, 11, 1, 12, 0), at(2026, 11, 2, 0, 0))
    assert [(r.person, r.source) for r in rows] == [
        ("bob", "layer 1"),
        ("carol", "layer 1"),
        ("dana", "weekend days"),
        ("carol", "layer 1"),
    ]
    assert rows[1].start == at(2026, 11, 1, 13, 0) and rows[2].start == at(2026, 11, 1, 15, 0)


def test_an_override_wins_for_its_period_only() -> None:
    schedule = parse_policy(POLICY).schedules["primary"]
    assert schedule.on_call(at(2026, 4, 3, 17, 59, tz=BERLIN)) == "bob"
    assert schedule.who(at(2026, 4, 3, 18, 0, tz=BERLIN)) == ("carol", "override")
    assert schedule.on_call(at(2026, 4, 6, 8, 59, tz=BERLIN)) == "carol"
    assert schedule.on_call(at(2026, 4, 6, 9, 0, tz=BERLIN)) == "alice"  # alice's second week starts
    rows = schedule.segments(at(2026, 4, 3, tz=BERLIN), at(2026, 4, 7, tz=BERLIN))
    assert [(r.person, r.source) for r in rows] == [
        ("bob", "weekly"),
        ("carol", "override"),
        ("alice", "weekly"),
    ]


def test_p3_is_due_at_the_start_of_the_next_business_day_in_the_policy_time_zone() -> None:
    policy = parse_policy(
        {
            "time_zone": "America/New_York",
            "business_hours": {"days": "mon-fri", "start": "09:00", "end": "17:00"},
            "levels": [{"channel": "email"}],
        }
    )
    # Friday 2026-03-06 18:00 EST; DST starts Sunday 03-08: Monday 09:00 EDT is 13:00 UTC
    friday = at(2026, 3, 6, 18, 0, tz=NEW_YORK)
    assert policy.deadline("P3", friday) == at(2026, 3, 9, 13, 0)
    # Tuesday 23:30 in New York is already Wednesday in UTC: the local date counts
    tuesday_night = at(2026, 3, 10, 23, 30, tz=NEW_YORK)
    assert policy.deadline("P3", tuesday_night) == at(2026, 3, 11, 9, 0, tz=NEW_YORK)
    assert policy.deadline("P0", friday) - friday == 15 * 60
    assert policy.deadline("P1", friday) - friday == 3600
    assert policy.deadline("P2", friday) - friday == 4 * 3600


def test_business_hours_default_to_the_first_schedule() -> None:
    policy = parse_policy(POLICY)
    assert policy.tz == BERLIN
    saturday = at(2026, 4, 4, 12, 0, tz=BERLIN)
    assert policy.deadline("P3", saturday) == at(2026, 4, 6, 9, 0, tz=BERLIN)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedules": {"s": {"time_zone": "Mars/Olympus", "layers": []}}}, "unknown time zone"),
        (
            {"schedules": {"s": {"layers": [{"people": ["zed"], "start": "2026-01-01T09:00"}]}}},
            "'zed' is not in",
        ),
        (
            {
                "schedules": {
                    "s": {"layers": [{"people": ["alice"], "handoff": "hourly", "start": "2026-01-01"}]}
                }
            },
            "daily or weekly",
        ),
        ({"schedules": {"s": {"layers": [{"people": ["alice"]}]}}}, "'start'"),
        ({"schedules": {"s": {"layers": [{"people": ["alice"], "start": "soon"}]}}}, "not a date-time"),
        (
            {
                "schedules": {
                    "s": {"layers": [{"people": ["alice"], "start": "2026-01-01", "days": "funday"}]}
                }
            },
            "not a day",
        ),
        ({"people": {"alice": {"pager": "x"}}}, "unknown contact"),
        ({"people": {"alice": {"slack": "not-a-url"}}}, "http"),
        ({"people": {"alice": {"email": "nobody"}}}, "e-mail"),
        ({"levels": [{"schedule": "nope"}]}, "schedule 'nope' is not in"),
        ({"levels": [{"person": "nope"}]}, "person 'nope' is not in"),
        ({"levels": [{"person": "alice", "notify": ["fax"]}]}, "not a contact kind"),
        ({"levels": [{"role": "x"}]}, "needs a 'channel', a 'schedule' or a 'person'"),
        ({"business_hours": {"days": "mon-fri", "start": "9am"}}, "not a time of day"),
        ({"ack_link_ttl": "forever"}, "ack_link_ttl"),
    ],
)
def test_a_bad_schedule_is_a_clear_error(tmp_path: Path, change: dict[str, object], message: str) -> None:
    data = {"people": {"alice": {"email": "alice@example.com"}}, "levels": [{"person": "alice"}], **change}
    with pytest.raises(ValueError, match=message):
        parse_policy(data)
    import yaml

    path = tmp_path / "oncall.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=f"on-call file {path}"):
        load_policy(path)


def test_oncall_now_and_show_print_who_is_on_call_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml
    from click.testing import CliRunner

    from glowops.cli import app

    path = tmp_path / "oncall.yml"
    path.write_text(yaml.safe_dump(POLICY))
    monkeypatch.setenv("GLOWOPS_ONCALL_FILE", str(path))
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    now = runner.invoke(app, ["oncall", "now", "--schedule", "primary", "--at", "2026-04-04T12:00"])
    assert now.exit_code == 0, now.output
    assert now.output.strip() == ("primary: carol (override) until Mon 2026-04-06 09:00 CEST  [webhook]")
    shown = runner.invoke(
        app, ["oncall", "show", "--schedule", "primary", "--from", "2026-03-23T09:00", "--to", "2026-04-07"]
    )
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if "│" in line and "2026" in line]
    assert [line.split("│")[3].strip() for line in lines] == ["alice", "bob", "carol", "alice"]
    assert "Mon 2026-03-30 09:00 CEST" in lines[1]
    bad = runner.invoke(app, ["oncall", "show", "--from", "2026-04-07", "--to", "2026-04-01"])
    assert bad.exit_code == 2 and "--to must be after --from" in bad.output
    unknown = runner.invoke(app, ["oncall", "now", "--schedule", "nope"])
    assert unknown.exit_code == 2 and "no schedule 'nope'" in unknown.output
    monkeypatch.delenv("GLOWOPS_ONCALL_FILE")
    missing = runner.invoke(app, ["oncall", "now"])
    assert missing.exit_code == 2 and "GLOWOPS_ONCALL_FILE" in missing.output


def test_the_example_in_docs_alerts_md_is_a_valid_oncall_file() -> None:
    import re

    import yaml

    from glowops.alerting.docs import render_markdown

    text = render_markdown()
    block = re.search(r"## On-call.*?```yaml\n(.*?)```", text, re.DOTALL)
    assert block is not None
    policy = parse_policy(yaml.safe_load(block.group(1)))
    assert [level.role for level in policy.levels][:2] == ["On-call engineer", "Team lead"]
    assert policy.maintenance[0].name == "sunday patching"
    assert policy.schedules["primary"].on_call(at(2026, 12, 25, 12, 0)) == "dana"  # the holiday swap
