"""What the evaluator reads: label matchers, the storage protocol, and an in-memory storage."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from glowops.promql.model import Labels, PromQLError, is_stale, label_value


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher: ``=``, ``!=``, ``=~`` or ``!~`` (regexes are anchored like Prometheus')."""

    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, hash=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> Matcher:
        if op not in ("=", "!=", "=~", "!~"):
            raise PromQLError(f"unknown matcher operator {op!r}")
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(f"(?:{value})")
            except re.error as err:
                raise PromQLError(f"invalid regular expression {value!r}: {err}") from None
        return cls(name, op, value, pattern)

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self.regex is not None
        hit = self.regex.fullmatch(value) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True, slots=True)
class RateWindow:
    """What rate-like functions need from the samples of one series in a window."""

    count: int
    first_t: int
    first_v: float
    last_t: int
    last_v: float
    counter_delta: float  # last - first, plus the value before every counter reset in between
    prev_t: int  # the sample before the last (irate); equals last when count == 1
    prev_v: float


class SeriesView(Protocol):
    """One stored series as the evaluator reads it."""

    @property
    def labels(self) -> Labels: ...

    def instant(self, t: int, lookback: int) -> float | None:
        """The newest sample value in ``[t - lookback, t]``; None when absent or stale."""

    def samples(self, start: int, end: int) -> tuple[Sequence[int], Sequence[float]]:
        """Timestamps and values of the samples in ``[start, end]`` (no staleness markers)."""

    def rate_window(self, start: int, end: int) -> RateWindow | None:
        """Summary of the samples in ``[start, end]``; None when there is none."""


class Storage(Protocol):
    def select(self, matchers: tuple[Matcher, ...]) -> Sequence[SeriesView]: ...


def window_from_samples(times: Sequence[int], values: Sequence[float]) -> RateWindow | None:
    """A :class:`RateWindow` computed by walking the samples (the reference implementation)."""
    if not times:
        return None
    delta = values[-1] - values[0]
    prev = values[0]
    for value in values[1:]:
        if value < prev:
            delta += prev
        prev = value
    n = len(times)
    return RateWindow(
        n,
        times[0],
        values[0],
        times[-1],
        values[-1],
        delta,
        times[-2] if n > 1 else times[-1],
        values[-2] if n > 1 else values[-1],
    )


class MemorySeries:
    """A series held in two plain lists (tests and small stores)."""

    __slots__ = ("labels", "times", "values")

    def __init__(
        self, labels: Labels, times: list[int] | None = None, values: list[float] | None = None
    ) -> None:
        self.labels = labels
        self.times: list[int] = times or []
        self.values: list[float] = values or []

    def instant(self, t: int, lookback: int) -> float | None:
        i = bisect_right(self.times, t) - 1
        if i < 0 or self.times[i] < t - lookback or is_stale(self.values[i]):
            return None
        return self.values[i]

    def samples(self, start: int, end: int) -> tuple[Sequence[int], Sequence[float]]:
        lo, hi = bisect_left(self.times, start), bisect_right(self.times, end)
        pairs = [
            (t, v) for t, v in zip(self.times[lo:hi], self.values[lo:hi], strict=True) if not is_stale(v)
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def rate_window(self, start: int, end: int) -> RateWindow | None:
        return window_from_samples(*self.samples(start, end))


class MemoryStorage:
    """A list of :class:`MemorySeries`; ``add`` appends samples in time order."""

    def __init__(self) -> None:
        self.series: dict[Labels, MemorySeries] = {}

    def add(self, labels: Labels, t: int, value: float) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = MemorySeries(labels)
        series.times.append(t)
        series.values.append(value)

    def select(self, matchers: tuple[Matcher, ...]) -> Sequence[SeriesView]:
        return [
            s for s in self.series.values() if all(m.matches(label_value(s.labels, m.name)) for m in matchers)
        ]
