"""On-call schedules: people, rotations in layers, overrides, business hours, in a time zone.

A schedule answers "who is on call at instant t" (:meth:`Schedule.on_call`) and "who is on call
between two instants" (:meth:`Schedule.segments`). Hand-offs happen at a wall-clock time of the
schedule's time zone, so a weekly hand-off at Monday 09:00 Europe/Berlin stays at 09:00 local
across daylight-saving changes (the week it changes is 167 or 169 hours long).

Resolution order at an instant: an override covering it wins; otherwise the last layer whose
restriction (days and hours) covers it; a layer without a restriction covers all the time.

Business hours (:class:`BusinessHours`) give P3's "next business day": the start of business
hours on the next working day after the alert, in the schedule's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Handoff = Literal["daily", "weekly"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CONTACT_CHANNELS = ("email", "slack", "webhook", "pagerduty")


@dataclass(frozen=True, slots=True)
class Person:
    """Somebody who can be paged, and how: each contact is a channel and its address.

    ``email``: an address (SMTP settings); ``slack``: an incoming-webhook URL (a DM or a
    channel); ``webhook``: a URL receiving Alertmanager's webhook body; ``pagerduty``: an Events
    API v2 routing key (the integration key of the service that pages this person).
    """

    name: str
    contacts: tuple[tuple[str, str], ...]

    def contact(self, channel: str) -> str | None:
        return next((address for kind, address in self.contacts if kind == channel), None)


@dataclass(frozen=True, slots=True)
class Restriction:
    """The part of the week a layer covers: some days, between two local times (end may wrap)."""

    days: frozenset[int] = frozenset(range(7))
    start: time = time(0)
    end: time = time(0)  # equal to start: all day

    def covers(self, local: datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return local.weekday() in self.days
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= t < self.end
        # wraps midnight: the shift belongs to the day it starts on
        if t >= self.start:
            return local.weekday() in self.days
        return (local.weekday() - 1) % 7 in self.days and t < self.end


@dataclass(frozen=True, slots=True)
class Rotation:
    """People taking turns, handing off daily or weekly at the local time of ``start``."""

    name: str
    people: tuple[str, ...]
    handoff: Handoff
    start: datetime  # naive, local to the schedule
    restriction: Restriction | None = None

    def turn(self, local: datetime) -> int | None:
        """How many hand-offs have happened by ``local`` (None before the rotation starts)."""
        naive = local.replace(tzinfo=None)
        if naive < self.start:
            return None
        days = (naive.date() - self.start.date()).days
        if naive.time() < self.start.time():
            days -= 1
        return days // 7 if self.handoff == "weekly" else days

    def person_at(self, local: datetime) -> str | None:
        if self.restriction is not None and not self.restriction.covers(local):
            return None
        turn = self.turn(local)
        return None if turn is None else self.people[turn % len(self.people)]

    def boundaries(self, first: date, last: date) -> Iterator[datetime]:
        """Naive local instants in [first, last] where this layer may change hands or coverage."""
        day = first
        while day <= last:
            yield datetime.combine(day, self.start.time())
            if self.restriction is not None:
                yield datetime.combine(day, self.restriction.start)
                yield datetime.combine(day, self.restriction.end)
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Override:
    """``person`` is on call from ``start`` to ``end`` (UTC seconds), whatever the rotations say."""

    person: str
    start: float
    end: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    days: frozenset[int] = frozenset(range(5))
    start: time = time(9)
    end: time = time(17)

    def next_business_day(self, t: float, tz: ZoneInfo) -> float:
        """The start of business hours on the first working day after the local date of ``t``."""
        day = datetime.fromtimestamp(t, tz).date() + timedelta(days=1)
        while day.weekday() not in self.days:
            day += timedelta(days=1)
        return datetime.combine(day, self.start, tzinfo=tz).timestamp()

    def open_at(self, t: float, tz: ZoneInfo) -> bool:
        local = datetime.fromtimestamp(t, tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    person: str | None
    source: str  # the layer's name, "override", or "nobody"


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    tz: ZoneInfo
    layers: tuple[Rotation, ...]
    overrides: tuple[Override, ...] = ()
    business_hours: BusinessHours = field(default_factory=BusinessHours)

    def who(self, t: float) -> tuple[str | None, str]:
        """(person, where from) at the instant ``t``."""
        for override in reversed(self.overrides):
            if override.start <= t < override.end:
                return override.person, "override"
        local = datetime.fromtimestamp(t, self.tz)
        for layer in reversed(self.layers):
            person = layer.person_at(local)
            if person is not None:
                return person, layer.name
        return None, "nobody"

    def on_call(self, t: float) -> str | None:
        """Who is on call at ``t`` (UTC seconds)."""
        return self.who(t)[0]

    def segments(self, start: float, end: float) -> list[Segment]:
        """Who is on call when between ``start`` and ``end``, merged where nothing changes."""
        if end <= start:
            return []
        first = datetime.fromtimestamp(start, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, self.tz).date() + timedelta(days=1)
        cuts = {start}
        for layer in self.layers:
            for naive in layer.boundaries(first, last):
                t = _local_instant(naive, self.tz)
                if start < t < end:
                    cuts.add(t)
        for override in self.overrides:
            cuts.update(t for t in (override.start, override.end) if start < t < end)
        out: list[Segment] = []
        ordered = sorted(cuts)
        for i, t in enumerate(ordered):
            person, source = self.who(t)
            until = ordered[i + 1] if i + 1 < len(ordered) else end
            if out and out[-1].person == person and out[-1].source == source:
                out[-1] = Segment(out[-1].start, until, person, source)
            else:
                out.append(Segment(t, until, person, source))
        return out


def _local_instant(naive: datetime, tz: ZoneInfo) -> float:
    """A wall-clock time to an instant (zoneinfo's fold=0: a time skipped by a DST jump lands
    after the jump, a repeated one on its first occurrence)."""
    return naive.replace(tzinfo=tz).timestamp()


# --- parsing ---------------------------------------------------------------------------------------
class ScheduleError(ValueError):
    """A schedule, person or business-hours entry of the on-call file is wrong (the message says how)."""


def parse_zone(value: Any, where: str) -> ZoneInfo:
    if value in (None, ""):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{where}: unknown time zone {value!r} (an IANA name like Europe/Berlin)"
        ) from None


def parse_time(value: Any, where: str) -> time:
    text = str(value)
    try:
        return time.fromisoformat(text if len(text) > 2 else f"{int(text):02d}:00")
    except ValueError:
        raise ScheduleError(f"{where}: {value!r} is not a time of day (HH:MM)") from None


def parse_days(value: Any, where: str) -> frozenset[int]:
    items = value if isinstance(value, list) else str(value).replace(" ", "").split(",")
    out: set[int] = set()
    for item in items:
        text = str(item).lower()[:3]
        if "-" in str(item):  # mon-fri
            a, _, b = str(item).lower().partition("-")
            if a[:3] not in DAYS or b[:3] not in DAYS:
                raise ScheduleError(f"{where}: {item!r} is not a day range (mon-fri)")
            i, j = DAYS.index(a[:3]), DAYS.index(b[:3])
            out.update(d % 7 for d in range(i, j + (7 if j < i else 0) + 1))
        elif text in DAYS:
            out.add(DAYS.index(text))
        else:
            raise ScheduleError(f"{where}: {item!r} is not a day (mon, tue, ... or mon-fri)")
    return frozenset(out)


def parse_local(value: Any, tz: ZoneInfo, where: str) -> datetime:
    """An ISO date-time; naive means local to ``tz``. Returned aware."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0))
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ScheduleError(f"{where}: {value!r} is not a date-time (2026-03-02T09:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def parse_people(raw: Any) -> dict[str, Person]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ScheduleError("'people' must map names to contacts ({alice: {email: a@example.com}})")
    people = {}
    for name, contacts in raw.items():
        if not isinstance(contacts, Mapping) or not contacts:
            raise ScheduleError(f"person {name!r}: give at least one contact ({', '.join(CONTACT_CHANNELS)})")
        pairs = []
        for kind, address in contacts.items():
            if kind not in CONTACT_CHANNELS:
                raise ScheduleError(
                    f"person {name!r}: unknown contact {kind!r} (one of {', '.join(CONTACT_CHANNELS)})"
                )
            text = str(address or "")
            if kind in ("slack", "webhook") and not text.startswith(("https://", "http://")):
                raise ScheduleError(f"person {name!r}: the {kind} contact must be an http(s) URL")
            if kind == "email" and "@" not in text:
                raise ScheduleError(f"person {name!r}: {text!r} is not an e-mail address")
            if kind == "pagerduty" and not text.strip():
                raise ScheduleError(f"person {name!r}: the pagerduty contact is an Events API routing key")
            pairs.append((str(kind), text))
        people[str(name)] = Person(str(name), tuple(pairs))
    return people


def parse_business_hours(raw: Any, where: str) -> BusinessHours:
    if raw is None:
        return BusinessHours()
    if not isinstance(raw, Mapping):
        raise ScheduleError(f"{where}: business_hours is {{days: mon-fri, start: '09:00', end: '17:00'}}")
    hours = BusinessHours(
        parse_days(raw.get("days", "mon-fri"), where),
        parse_time(raw.get("start", "09:00"), where),
        parse_time(raw.get("end", "17:00"), where),
    )
    if not hours.days:
        raise ScheduleError(f"{where}: business hours need at least one day")
    return hours


def parse_schedule(name: str, raw: Any, people: Mapping[str, Person]) -> Schedule:
    where = f"schedule {name!r}"
    if not isinstance(raw, Mapping):
        raise ScheduleError(f"{where}: expected a mapping with time_zone and layers")
    tz = parse_zone(raw.get("time_zone"), where)
    raw_layers = raw.get("layers")
    if raw_layers is None and "rotation" in raw:  # one layer, written inline
        raw_layers = [raw["rotation"]]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ScheduleError(f"{where}: 'layers' must be a non-empty list of rotations")
    layers = []
    for i, layer in enumerate(raw_layers):
        lw = f"{where} layer {i + 1}"
        if not isinstance(layer, Mapping):
            raise ScheduleError(f"{lw}: expected {{people: [...], handoff: weekly, start: ...}}")
        members = layer.get("people")
        if not isinstance(members, list) or not members:
            raise ScheduleError(f"{lw}: 'people' must be a non-empty list")
        for member in members:
            if str(member) not in people:
                raise ScheduleError(f"{lw}: {member!r} is not in 'people'")
        handoff = str(layer.get("handoff", "weekly"))
        if handoff not in ("daily", "weekly"):
            raise ScheduleError(f"{lw}: handoff must be daily or weekly (got {handoff!r})")
        if "start" not in layer:
            raise ScheduleError(f"{lw}: 'start' (the first hand-off, local time) is required")
        start = parse_local(layer["start"], tz, lw).astimezone(tz).replace(tzinfo=None)
        restriction = None
        if any(k in layer for k in ("days", "from", "to")):
            restriction = Restriction(
                parse_days(layer.get("days", "mon-sun"), lw),
                parse_time(layer.get("from", "00:00"), lw),
                parse_time(layer.get("to", "00:00"), lw),
            )
        layers.append(
            Rotation(
                str(layer.get("name") or f"layer {i + 1}"),
                tuple(str(m) for m in members),
                handoff,  # type: ignore[arg-type]
                start,
                restriction,
            )
        )
    overrides = []
    for i, item in enumerate(raw.get("overrides") or []):
        ow = f"{where} override {i + 1}"
        if not isinstance(item, Mapping) or not {"person", "from", "to"} <= set(item):
            raise ScheduleError(f"{ow}: expected {{person: NAME, from: DATE-TIME, to: DATE-TIME}}")
        if str(item["person"]) not in people:
            raise ScheduleError(f"{ow}: {item['person']!r} is not in 'people'")
        a = parse_local(item["from"], tz, ow).timestamp()
        b = parse_local(item["to"], tz, ow).timestamp()
        if b <= a:
            raise ScheduleError(f"{ow}: 'to' must be after 'from'")
        overrides.append(Override(str(item["person"]), a, b, str(item.get("reason", ""))))
    hours = parse_business_hours(raw.get("business_hours"), where)
    return Schedule(name, tz, tuple(layers), tuple(overrides), hours)


def parse_schedules(raw: Any, people: Mapping[str, Person]) -> dict[str, Schedule]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ScheduleError("'schedules' must map names to schedules")
    return {str(name): parse_schedule(str(name), body, people) for name, body in raw.items()}


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def table_rows(schedule: Schedule, start: float, end: float) -> Sequence[tuple[str, str, str, str]]:
    """(from, to, person, source) in the schedule's local time, for ``oncall show`` and the console."""
    fmt = "%a %Y-%m-%d %H:%M %Z"
    return [
        (
            datetime.fromtimestamp(s.start, schedule.tz).strftime(fmt),
            datetime.fromtimestamp(s.end, schedule.tz).strftime(fmt),
            s.person or "-",
            s.source,
        )
        for s in schedule.segments(start, end)
    ]
