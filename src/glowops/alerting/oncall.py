"""On-call policy: priorities with response times, the escalation chain, people and schedules.

Priorities (the spec's): P0 respond within 15 minutes, P1 within 1 hour, P2 within 4 hours,
P3 by the next business day - the start of business hours on the next working day in the
policy's time zone (DST-correct). An alert carries its priority as the ``priority`` label.

Everything is read from ``settings.oncall_file`` (YAML)::

    time_zone: Europe/Berlin          # business hours' zone (default: the first schedule's, else UTC)
    business_hours: {days: mon-fri, start: "09:00", end: "17:00"}
    people:
      alice: {email: alice@example.com, slack: https://hooks.slack.com/services/T/B/x}
      bob: {pagerduty: R0UT1NGKEY, email: bob@example.com}
      dana: {webhook: https://hooks.example.com/dana}
    schedules:
      primary:
        time_zone: Europe/Berlin
        layers:
          - {name: weekly, people: [alice, bob], handoff: weekly, start: 2026-03-02T09:00}
          - {name: weekend days, people: [dana], handoff: daily, start: 2026-03-07T09:00,
             days: sat-sun, from: "09:00", to: "18:00"}
        overrides:
          - {person: dana, from: 2026-12-24T00:00, to: 2026-12-27T00:00, reason: holiday swap}
    levels:
      - {role: On-call engineer, schedule: primary}
      - {role: Team lead, person: dana}
      - {role: Engineering manager, channel: email, target: em@example.com}
      - {role: CTO, person: bob, notify: [pagerduty]}
    response_times: {P2: 2h}          # optional overrides of the spec's
    ack_link_ttl: 4h                  # how long a one-click ack link works (default 24h)
    maintenance: [...]                # see glowops.alerting.maintenance

A level names a schedule (whoever is on call when it is paged), a person, or a configured
channel (``channel`` + optional ``target``). A person is paged on each of their contacts, or on
those the level's ``notify`` lists. See :mod:`glowops.alerting.escalation` for the timing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from glowops.alerting.schedule import (
    CONTACT_CHANNELS,
    BusinessHours,
    Person,
    Schedule,
    ScheduleError,
    parse_business_hours,
    parse_people,
    parse_schedules,
    parse_zone,
)
from glowops.promql import parse_duration

RESPONSE_TIMES: dict[str, float | None] = {"P0": 15 * 60.0, "P1": 3600.0, "P2": 4 * 3600.0, "P3": None}
# None = the next business day
DEFAULT_ROLES = ("On-call engineer", "Team lead", "Engineering manager", "CTO")
DEFAULT_ACK_LINK_TTL = 24 * 3600.0
# outbox channel of each contact kind: a person's own Slack webhook / PagerDuty routing key go
# through notifiers that take the address from the message (see channels.DIRECT_CHANNELS)
CONTACT_OUTBOX_CHANNEL = {
    "email": "email",
    "slack": "slack_direct",
    "webhook": "webhook",
    "pagerduty": "pagerduty_direct",
}


@dataclass(frozen=True, slots=True)
class Contact:
    """One message to send when a level is paged: the outbox channel and its address."""

    channel: str
    target: str | None
    person: str | None = None
    kind: str = ""  # email, slack, webhook, pagerduty, or "" for a configured channel


@dataclass(frozen=True, slots=True)
class Level:
    role: str
    channel: str | None = None
    target: str | None = None
    schedule: str | None = None
    person: str | None = None
    notify: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.schedule:
            return f"schedule {self.schedule}"
        if self.person:
            return f"person {self.person}"
        return f"channel {self.channel}" + (f" ({self.target})" if self.target else "")


@dataclass(frozen=True, slots=True)
class OnCallPolicy:
    levels: tuple[Level, ...]
    response_times: dict[str, float | None]
    people: Mapping[str, Person] = field(default_factory=dict)
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    ack_link_ttl: float = DEFAULT_ACK_LINK_TTL
    maintenance: tuple[Any, ...] = ()  # glowops.alerting.maintenance.Window

    def response_time(self, priority: str) -> float | None:
        return self.response_times.get(priority, RESPONSE_TIMES.get(priority, 3600.0))

    def deadline(self, priority: str, start: float) -> float:
        """When a response is due for an alert of ``priority`` that started waiting at ``start``."""
        seconds = self.response_time(priority)
        if seconds is not None:
            return start + seconds
        return self.business_hours.next_business_day(start, self.tz)

    def due_level(self, priority: str, fired_at: float, now: float) -> int:
        """How many levels should have been paged by ``now`` without an ack (1 at firing)."""
        level, start = 1, fired_at
        while level < len(self.levels):
            start = self.deadline(priority, start)
            if now < start:
                break
            level += 1
        return level

    def resolve(self, target: Level, now: float) -> tuple[list[Contact], str]:
        """The contacts a level pages at ``now`` and who that is (for the message and status)."""
        person_name = target.person
        if target.schedule:
            person_name = self.schedules[target.schedule].on_call(now)
            if person_name is None:
                fallback = [Contact(target.channel, target.target)] if target.channel else []
                return fallback, f"nobody on call in {target.schedule}"
        if person_name:
            return self.contacts_of(person_name, target.notify), person_name
        assert target.channel is not None  # checked when loading
        return [Contact(target.channel, target.target)], target.role

    def contacts_of(self, name: str, only: tuple[str, ...] = ()) -> list[Contact]:
        person = self.people[name]
        return [
            Contact(CONTACT_OUTBOX_CHANNEL[kind], address, name, kind)
            for kind, address in person.contacts
            if not only or kind in only
        ]


def next_business_day(t: float, tz: ZoneInfo | None = None, hours: BusinessHours | None = None) -> float:
    """09:00 (or the business hours' start) on the next working day after ``t``, in ``tz``."""
    return (hours or BusinessHours()).next_business_day(t, tz or ZoneInfo("UTC"))


def load_policy(path: Path | None) -> OnCallPolicy | None:
    """The policy from the YAML file; None when no file is configured. Errors are ValueError."""
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ValueError(f"on-call file {path} does not exist (GLOWOPS_ONCALL_FILE)") from None
    except yaml.YAMLError as err:
        raise ValueError(f"on-call file {path} is not valid YAML: {err}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"on-call file {path}: expected a mapping with 'levels'")
    try:
        return parse_policy(data)
    except ValueError as err:
        raise ValueError(f"on-call file {path}: {err}") from None


def parse_policy(data: Mapping[str, Any]) -> OnCallPolicy:
    people = parse_people(data.get("people"))
    schedules = parse_schedules(data.get("schedules"), people)
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise ScheduleError("'levels' must be a non-empty list (on-call engineer first)")
    levels = [_level(i, item, people, schedules) for i, item in enumerate(raw_levels)]
    times = dict(RESPONSE_TIMES)
    for priority, text in (data.get("response_times") or {}).items():
        if priority not in RESPONSE_TIMES:
            raise ScheduleError(f"unknown priority {priority!r} (P0-P3)")
        try:
            times[priority] = None if text in (None, "next_business_day") else parse_duration(str(text))
        except ValueError as err:
            raise ScheduleError(f"response time of {priority}: {err}") from None
    first = next(iter(schedules.values()), None)
    if "time_zone" in data:
        tz = parse_zone(data["time_zone"], "time_zone")
    else:
        tz = first.tz if first else ZoneInfo("UTC")
    if "business_hours" in data:
        hours = parse_business_hours(data["business_hours"], "business_hours")
    else:
        hours = first.business_hours if first else BusinessHours()
    ttl = DEFAULT_ACK_LINK_TTL
    if data.get("ack_link_ttl") is not None:
        try:
            ttl = parse_duration(str(data["ack_link_ttl"]))
        except ValueError as err:
            raise ScheduleError(f"ack_link_ttl: {err}") from None
        if ttl <= 0:
            raise ScheduleError("ack_link_ttl must be positive")
    from glowops.alerting.maintenance import parse_windows

    windows = parse_windows(data.get("maintenance"), tz)
    return OnCallPolicy(tuple(levels), times, people, schedules, tz, hours, ttl, tuple(windows))


def _level(i: int, item: Any, people: Mapping[str, Person], schedules: Mapping[str, Schedule]) -> Level:
    where = f"level {i + 1}"
    if not isinstance(item, Mapping):
        raise ScheduleError(f"{where}: expected {{role, schedule | person | channel}}")
    named = [k for k in ("schedule", "person", "channel") if item.get(k)]
    if not named:
        raise ScheduleError(f"{where} needs a 'channel', a 'schedule' or a 'person'")
    if item.get("schedule") and str(item["schedule"]) not in schedules:
        raise ScheduleError(f"{where}: schedule {item['schedule']!r} is not in 'schedules'")
    if item.get("person") and str(item["person"]) not in people:
        raise ScheduleError(f"{where}: person {item['person']!r} is not in 'people'")
    if item.get("schedule") and item.get("person"):
        raise ScheduleError(f"{where}: name a schedule or a person, not both")
    notify = tuple(str(n) for n in (item.get("notify") or ()))
    for kind in notify:
        if kind not in CONTACT_CHANNELS:
            raise ScheduleError(
                f"{where}: notify {kind!r} is not a contact kind ({', '.join(CONTACT_CHANNELS)})"
            )
    role = str(item.get("role") or (DEFAULT_ROLES[i] if i < len(DEFAULT_ROLES) else f"Level {i + 1}"))
    return Level(
        role,
        str(item["channel"]) if item.get("channel") else None,
        str(item["target"]) if item.get("target") else None,
        str(item["schedule"]) if item.get("schedule") else None,
        str(item["person"]) if item.get("person") else None,
        notify,
    )


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
