"""Maintenance windows: scheduled silences from the on-call file, one-off or recurring, in a time zone.

::

    maintenance:
      - name: database patching
        matchers: ['service="gateway"', 'family=~"database|availability"']
        time_zone: Europe/Berlin
        days: sun              # recurring: these days ...
        start: "02:00"         # ... at this local time ...
        duration: 2h           # ... for this long
      - name: datacenter move
        matchers: [service=gateway]
        from: 2026-12-30T22:00
        to: 2026-12-31T04:00

During a window, notifications of matching alerts are suppressed and counted
(``glowops_notifications_suppressed_total{window}``); an alert still firing when the window
ends is notified then, and a resolve after the window is sent as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from glowops.alerting.schedule import ScheduleError, parse_days, parse_local, parse_time, parse_zone
from glowops.promql import Matcher, parse_duration


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    matchers: tuple[Matcher, ...]
    tz: ZoneInfo
    days: frozenset[int] = frozenset()  # recurring when not empty
    start_time: time = time(0)
    duration: float = 0.0
    once: tuple[float, float] | None = None  # one-off (start, end) in UTC seconds

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)

    def occurrence(self, t: float) -> tuple[float, float] | None:
        """The (start, end) of the occurrence active at ``t``, if any."""
        if self.once is not None:
            return self.once if self.once[0] <= t < self.once[1] else None
        local = datetime.fromtimestamp(t, self.tz).date()
        back = int(self.duration // 86400) + 1
        for offset in range(back + 1):  # an occurrence that started on an earlier day may still run
            day = local - timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start_time, tzinfo=self.tz).timestamp()
            if start <= t < start + self.duration:
                return start, start + self.duration
        return None

    def active(self, t: float) -> bool:
        return self.occurrence(t) is not None

    def next_occurrences(self, t: float, count: int = 3) -> list[tuple[float, float]]:
        """The current (if any) and next occurrences after ``t`` (for the console)."""
        if self.once is not None:
            return [self.once] if self.once[1] > t else []
        out: list[tuple[float, float]] = []
        day = datetime.fromtimestamp(t, self.tz).date() - timedelta(days=int(self.duration // 86400) + 1)
        for _ in range(7 * (count + 2)):
            if day.weekday() in self.days:
                start = datetime.combine(day, self.start_time, tzinfo=self.tz).timestamp()
                if start + self.duration > t:
                    out.append((start, start + self.duration))
                    if len(out) == count:
                        break
            day += timedelta(days=1)
        return out

    def describe(self) -> str:
        return ", ".join(f"{m.name}{m.op}{m.value!r}" for m in self.matchers)


def parse_windows(raw: Any, default_tz: ZoneInfo) -> list[Window]:
    from glowops.alerting.state import parse_matcher

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ScheduleError("'maintenance' must be a list of windows")
    out = []
    for i, item in enumerate(raw):
        where = f"maintenance window {i + 1}"
        if not isinstance(item, Mapping):
            raise ScheduleError(f"{where}: expected {{name, matchers, days/start/duration or from/to}}")
        name = str(item.get("name") or f"window {i + 1}")
        where = f"maintenance window {name!r}"
        texts = item.get("matchers")
        if not isinstance(texts, list) or not texts:
            raise ScheduleError(f"{where}: 'matchers' must be a non-empty list (service=gateway)")
        try:
            matchers = tuple(parse_matcher(str(t)) for t in texts)
        except ValueError as err:
            raise ScheduleError(f"{where}: {err}") from None
        tz = parse_zone(item["time_zone"], where) if item.get("time_zone") else default_tz
        if "from" in item or "to" in item:
            if not ("from" in item and "to" in item):
                raise ScheduleError(f"{where}: a one-off window needs both 'from' and 'to'")
            a = parse_local(item["from"], tz, where).timestamp()
            b = parse_local(item["to"], tz, where).timestamp()
            if b <= a:
                raise ScheduleError(f"{where}: 'to' must be after 'from'")
            out.append(Window(name, matchers, tz, once=(a, b)))
            continue
        if not {"days", "start", "duration"} <= set(item):
            raise ScheduleError(f"{where}: give 'from' and 'to', or 'days', 'start' and 'duration'")
        try:
            duration = parse_duration(str(item["duration"]))
        except ValueError as err:
            raise ScheduleError(f"{where}: duration: {err}") from None
        if not 0 < duration <= 7 * 86400:
            raise ScheduleError(f"{where}: duration must be between 1s and 7d")
        out.append(
            Window(
                name,
                matchers,
                tz,
                parse_days(item["days"], where),
                parse_time(item["start"], where),
                duration,
            )
        )
    return out
