"""The embedded time-series store: bounded, compact, persisted in SQLite.

Layout (why it is small and fast):

- Series that are written together (every sample of one scrape, every output of one rule
  evaluation) share a :class:`Timeline`: one ``array('q')`` of millisecond timestamps. A
  series keeps only its values aligned to its timeline: the newest (a bit more than an hour,
  :data:`KEEP_PLAIN`) as an ``array('d')``, the older ones, once persisted, sealed in compressed
  chunks (:mod:`glowops.promql.chunks`: about 1.5 bytes a sample on a gateway's series, against
  8 plain; 24 h at 15 s is ~9 KiB per series instead of 46 KiB).
- A scrape the series missed holds an "absent" NaN; a series that disappeared gets
  Prometheus' staleness marker. Both are rare, so their positions are kept in a sorted side
  list and the common case (no gaps) needs no scan.
- Counter resets are found when a sample is appended and kept as (position, cumulative
  correction) pairs, so ``rate``/``increase`` over any window is a couple of index look-ups
  instead of a walk over the window.
- Samples older than the retention are dropped in chunks (amortised).

Persistence: :meth:`TSDB.flush` appends the values written since the last flush to SQLite as
one blob per series and chunk; :meth:`TSDB.load` rebuilds the store after a restart.
"""

from __future__ import annotations

import sqlite3
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from glowops.promql.chunks import CHUNK, SealedValues
from glowops.promql.functions import extrapolated_rate
from glowops.promql.model import NAME, STALE_NAN, Labels, is_stale, label_value
from glowops.promql.storage import Matcher, RateWindow
from glowops.slicing import Steps, run_steps

# Values a series keeps plain (not sealed): more than an hour at 15 s, so rules over windows up
# to 1 h read arrays only; longer windows read their oldest value from a sealed chunk.
KEEP_PLAIN = 256
_ABSENT_BITS = 0x7FF0000000000003
ABSENT_NAN: float = struct.unpack("<d", struct.pack("<Q", _ABSENT_BITS))[0]
_ABSENT_BYTES = struct.pack("<Q", _ABSENT_BITS)


class Timeline:
    """Timestamps (ms) shared by the series written together; positions are absolute."""

    __slots__ = ("_pos_cache", "base", "flushed", "name", "times")

    def __init__(self, name: str) -> None:
        self.name = name
        self.times = array("q")
        self.base = 0  # absolute position of times[0]
        self.flushed = 0  # absolute position up to which SQLite has the data
        # every series of a selection asks for the same window: answer it once
        self._pos_cache: tuple[int, int, int, int, int, int] = (-1, -1, -1, -1, 0, 0)

    @property
    def end(self) -> int:
        """Absolute position one past the newest timestamp."""
        return self.base + len(self.times)

    def append(self, t: int) -> int:
        if self.times and t <= self.times[-1]:
            if t == self.times[-1]:
                return self.end - 1
            raise ValueError(f"timeline {self.name}: out-of-order timestamp {t} < {self.times[-1]}")
        self.times.append(t)
        return self.end - 1

    def positions(self, start: int, end: int) -> tuple[int, int]:
        """Absolute positions ``[lo, hi)`` of the timestamps in ``[start, end]``."""
        c = self._pos_cache
        times = self.times
        if c[0] == start and c[1] == end and c[2] == len(times) and c[3] == self.base:
            return c[4], c[5]
        lo, hi = self.base + bisect_left(times, start), self.base + bisect_right(times, end)
        self._pos_cache = (start, end, len(times), self.base, lo, hi)
        return lo, hi

    def time_at(self, pos: int) -> int:
        return self.times[pos - self.base]


class Series:
    """One series: values aligned to a timeline from position ``start``."""

    __slots__ = (
        "bare_labels",
        "first",
        "gaps",
        "labels",
        "last",
        "old",
        "reset_base",
        "resets",
        "start",
        "timeline",
        "values",
    )

    def __init__(self, labels: Labels, timeline: Timeline, start: int) -> None:
        self.labels = labels
        self.bare_labels = tuple(p for p in labels if p[0] != NAME)  # what functions return
        self.timeline = timeline
        self.start = start  # absolute position of values[0]
        self.values = array("d")  # the newest values, plain
        self.old: SealedValues | None = None  # older values, compressed, positions [first, start)
        self.first = start  # the oldest position held
        self.gaps: list[int] = []  # absolute positions holding an absent or stale marker
        self.resets: list[tuple[int, float]] = []  # (position, cumulative correction up to it)
        self.reset_base = 0.0  # correction of resets already dropped by retention
        self.last: float | None = None  # newest real sample (counter-reset detection)

    @property
    def end(self) -> int:
        return self.start + len(self.values)

    def put(self, pos: int, value: float) -> None:
        """Write the sample at absolute position ``pos`` (the newest position of the timeline)."""
        end = self.start + len(self.values)
        if pos < end:
            if pos == end - 1:  # same timestamp written twice: the last write wins
                self.values[-1] = value
                return
            raise ValueError("series: out-of-order write")
        if pos > end:  # missed scrapes in between
            self.gaps.extend(range(end, pos))
            self.values.extend([ABSENT_NAN] * (pos - end))
        if value != value and is_stale(value):
            self.gaps.append(pos)
        else:
            prev = self.last
            if prev is not None and value < prev:
                self.resets.append((pos, self._correction(pos) + prev))
            self.last = value
        self.values.append(value)

    def _is_gap(self, pos: int) -> bool:
        i = bisect_left(self.gaps, pos)
        return i < len(self.gaps) and self.gaps[i] == pos

    def _correction(self, pos: int) -> float:
        resets = self.resets
        if not resets:
            return self.reset_base
        i = bisect_right(resets, (pos, float("inf"))) - 1
        return resets[i][1] if i >= 0 else self.reset_base

    def value_at(self, pos: int) -> float:
        """The value at absolute position ``pos`` (``first <= pos < end``), sealed or not."""
        if pos >= self.start:
            return self.values[pos - self.start]
        assert self.old is not None
        return self.old.value(pos)

    def compact(self, limit: int, keep: int = KEEP_PLAIN) -> int:
        """Seal whole chunks of values before position ``limit`` (persisted ones), leaving at least
        ``keep`` values plain: the windows of most rules (up to an hour) read only those."""
        sealed = 0
        while self.start + CHUNK <= limit and len(self.values) - CHUNK >= keep:
            if self.old is None:
                self.old = SealedValues(self.start)
            self.old.seal(self.values[:CHUNK])
            del self.values[:CHUNK]
            self.start += CHUNK
            sealed += CHUNK
        return sealed

    def nbytes(self) -> int:
        """Bytes of the values (plain and sealed), without Python's object headers."""
        return len(self.values) * 8 + (self.old.nbytes() if self.old is not None else 0)

    # --- SeriesView ---------------------------------------------------------------------------
    def instant(self, t: int, lookback: int) -> float | None:
        tl = self.timeline
        hi = tl.base + bisect_right(tl.times, t) - 1  # newest position at or before t
        pos = min(hi, self.start + len(self.values) - 1)
        if pos < self.first:
            return None
        if self.gaps:
            while pos >= self.first and self._is_gap(pos):
                if is_stale(self.value_at(pos)):
                    return None
                pos -= 1
            if pos < self.first:
                return None
        if tl.times[pos - tl.base] < t - lookback:
            return None
        if pos >= self.start:
            return self.values[pos - self.start]
        return self.value_at(pos)

    def _bounds(self, start: int, end: int) -> tuple[int, int]:
        lo, hi = self.timeline.positions(start, end)
        return max(lo, self.first), min(hi, self.start + len(self.values))

    def samples(self, start: int, end: int) -> tuple[Sequence[int], Sequence[float]]:
        lo, hi = self._bounds(start, end)
        if lo >= hi:
            return (), ()
        tl = self.timeline
        times = tl.times[lo - tl.base : hi - tl.base]
        if lo >= self.start:
            values = self.values[lo - self.start : hi - self.start]
        else:
            assert self.old is not None
            values = self.old.slice(lo, min(hi, self.start))
            values.extend(self.values[: max(0, hi - self.start)])
        if not self.gaps or bisect_left(self.gaps, lo) == bisect_left(self.gaps, hi):
            return times, values
        gaps = set(self.gaps[bisect_left(self.gaps, lo) : bisect_left(self.gaps, hi)])
        keep = [i for i in range(hi - lo) if lo + i not in gaps]
        return [times[i] for i in keep], [values[i] for i in keep]

    def rate_window(self, start: int, end: int) -> RateWindow | None:
        lo, hi = self._bounds(start, end)
        if lo >= hi:
            return None
        gaps = self.gaps
        count = hi - lo
        if gaps:
            g_lo, g_hi = bisect_left(gaps, lo), bisect_left(gaps, hi)
            count -= g_hi - g_lo
            if count <= 0:
                return None
            if g_hi > g_lo:  # skip markers at either edge
                while self._is_gap(lo):
                    lo += 1
                while self._is_gap(hi - 1):
                    hi -= 1
        first, last = lo, hi - 1
        prev = last
        if count > 1:
            prev = last - 1
            while gaps and self._is_gap(prev):
                prev -= 1
        tl, b, value_at = self.timeline, self.timeline.base, self.value_at
        first_v, last_v = value_at(first), value_at(last)
        delta = last_v - first_v
        if self.resets:
            delta += self._correction(last) - self._correction(first)
        return RateWindow(
            count,
            tl.times[first - b],
            first_v,
            tl.times[last - b],
            last_v,
            delta,
            tl.times[prev - b],
            value_at(prev),
        )

    def extrapolated(self, start: int, end: int, range_s: float, is_rate: bool) -> float | None:
        """``rate``/``increase`` over ``[start, end]`` (None with fewer than two samples).

        The common case (no gaps) inline, without building a :class:`RateWindow`; the same
        arithmetic as :func:`glowops.promql.functions.extrapolated_rate`.
        """
        if self.gaps:
            window = self.rate_window(start, end)
            if window is None or window.count < 2:
                return None
            return extrapolated_rate(window, start, end, range_s, is_rate=is_rate)
        tl = self.timeline
        lo, hi = tl.positions(start, end)
        s0 = self.start
        if lo < self.first:
            lo = self.first
        n_end = s0 + len(self.values)
        if hi > n_end:
            hi = n_end
        count = hi - lo
        if count < 2:
            return None
        times, b = tl.times, tl.base
        first_t, last_t = times[lo - b], times[hi - 1 - b]
        first_v = self.values[lo - s0] if lo >= s0 else self.value_at(lo)
        result = self.value_at(hi - 1) - first_v
        if self.resets:
            result += self._correction(hi - 1) - self._correction(lo)
        to_start = (first_t - start) / 1000.0
        to_end = (end - last_t) / 1000.0
        sampled = (last_t - first_t) / 1000.0
        average = sampled / (count - 1)
        if result > 0 and first_v >= 0:
            to_zero = sampled * (first_v / result)
            if to_zero < to_start:
                to_start = to_zero
        threshold = average * 1.1
        span = sampled + (to_start if to_start < threshold else average / 2)
        span += to_end if to_end < threshold else average / 2
        factor = span / sampled
        if is_rate:
            factor /= range_s
        return result * factor

    # --- retention ----------------------------------------------------------------------------
    def trim(self, pos: int) -> None:
        """Drop values before absolute position ``pos``."""
        if pos <= self.first:
            return
        if self.old is not None:
            self.old.drop_before(pos)
            if pos >= self.start:
                self.old = None
        drop = min(max(0, pos - self.start), len(self.values))
        if drop:
            del self.values[:drop]
            self.start += drop
        self.first = self.old.first if self.old is not None else self.start
        if self.gaps:
            self.gaps = self.gaps[bisect_left(self.gaps, self.first) :]
        if self.resets:
            keep = bisect_left(self.resets, (self.first, float("-inf")))
            if keep:
                self.reset_base = self.resets[keep - 1][1]
                self.resets = self.resets[keep:]


@dataclass
class _SelectCache:
    generation: int = -1
    results: dict[tuple[Matcher, ...], list[Series]] = field(default_factory=dict)


@dataclass
class FlushBatch:
    """The rows of one flush, copied out of the store (:meth:`TSDB.flush_steps`)."""

    times: list[tuple[str, int, bytes]] = field(default_factory=list)
    chunks: list[tuple[int, int, bytes]] = field(default_factory=list)  # (series id, start, values)
    new_series: list[tuple[Labels, str, str]] = field(default_factory=list)  # labels, timeline, key
    new_chunks: list[tuple[Labels, int, bytes]] = field(default_factory=list)  # for new_series, same order
    values: int = 0


_SERIES_PER_STEP = 16  # a step may seal a chunk per series (~50 µs each)


class TSDB:
    """Series by metric name, with selection, retention and SQLite persistence."""

    def __init__(self, retention_ms: int = 24 * 3600 * 1000) -> None:
        self.retention_ms = retention_ms
        self.timelines: dict[str, Timeline] = {}
        self.by_name: dict[str, dict[Labels, Series]] = {}
        self.generation = 0  # bumped when a series is added or removed (selection cache)
        self.epoch = 0  # bumped when series are removed: a Series object held since is still current
        self._cache = _SelectCache()
        self._series_ids: dict[Labels, int] = {}  # labels -> SQLite series id
        # every series by its labels (which hold the name): one look-up per sample on append
        self._index: dict[Labels, Series] = {}
        # what catch_up() has read: highest rowids of tsdb_times, tsdb_series, tsdb_chunks
        self._seen_rowids = (0, 0, 0)
        self._stored_series: dict[int, tuple[str, Labels]] = {}  # SQLite id -> (timeline, labels)

    def timeline(self, name: str) -> Timeline:
        tl = self.timelines.get(name)
        if tl is None:
            tl = self.timelines[name] = Timeline(name)
        return tl

    def series(self, labels: Labels, timeline: Timeline, pos: int) -> Series:
        """The series with these labels (created on first use)."""
        found = self._index.get(labels)
        if found is not None:
            return found
        name = label_value(labels, NAME)
        family = self.by_name.get(name)
        if family is None:
            family = self.by_name[name] = {}
        series = family.get(labels)
        if series is None:
            series = family[labels] = self._index[labels] = Series(labels, timeline, pos)
            self.generation += 1
        return series

    def append(self, timeline: str, t: int, samples: Iterable[tuple[Labels, float]]) -> bool:
        """Write one batch of samples taken at ``t`` (ms); False (nothing written) when ``t`` is
        older than the newest timestamp, as Prometheus rejects out-of-order samples (the clock
        went backwards)."""
        pos = self.advance(timeline, t)
        if pos is None:
            return False
        tl = self.timelines[timeline]
        index = self._index
        for labels, value in samples:
            series = index.get(labels)
            if series is None:
                series = self.series(labels, tl, pos)
            last = series.last
            # the common case inline (next position, no reset, no marker); Series.put otherwise
            if last is not None and value >= last and series.start + len(series.values) == pos:
                series.values.append(value)
                series.last = value
            else:
                series.put(pos, value)
        return True

    # --- the same in two steps, for a writer that keeps its Series objects (the sampler) -------
    def advance(self, timeline: str, t: int) -> int | None:
        """Add ``t`` to the timeline; the position to write at, or None when ``t`` is older than
        the newest timestamp (rejected, as :meth:`append` rejects it)."""
        tl = self.timeline(timeline)
        if tl.times and t < tl.times[-1]:
            return None
        return tl.append(t)

    @staticmethod
    def write(pos: int, writes: Iterable[tuple[Series, float]]) -> None:
        """Write values at ``pos`` (from :meth:`advance`) into series obtained from :meth:`series`
        with the same timeline and not removed since (:attr:`epoch` unchanged)."""
        for series, value in writes:
            last = series.last
            if last is not None and value >= last and series.start + len(series.values) == pos:
                series.values.append(value)
                series.last = value
            else:
                series.put(pos, value)

    def mark_stale(self, timeline: str, t: int, labels: Iterable[Labels]) -> None:
        """Write staleness markers: these series vanished at ``t``."""
        tl = self.timeline(timeline)
        if tl.times and t < tl.times[-1]:
            return
        pos = tl.append(t)
        for lb in labels:
            series = self._index.get(lb)
            if series is not None and series.timeline is tl and series.end <= pos:
                series.put(pos, STALE_NAN)

    def select(self, matchers: tuple[Matcher, ...]) -> list[Series]:
        cache = self._cache
        if cache.generation != self.generation:
            cache.results.clear()
            cache.generation = self.generation
        hit = cache.results.get(matchers)
        if hit is not None:
            return hit
        name = next((m.value for m in matchers if m.name == NAME and m.op == "="), None)
        if name is not None:
            candidates: Iterable[Series] = self.by_name.get(name, {}).values()
        else:
            candidates = (s for family in self.by_name.values() for s in family.values())
        rest = [m for m in matchers if not (m.name == NAME and m.op == "=")]
        out = [s for s in candidates if all(m.matches(label_value(s.labels, m.name)) for m in rest)]
        cache.results[matchers] = out
        return out

    @staticmethod
    def rates(
        series_list: Sequence[Series], start: int, end: int, range_s: float, is_rate: bool
    ) -> list[tuple[Labels, float]]:
        """``rate``/``increase`` of many series: the instant vector (labels without the name)."""
        produced, values = TSDB.rate_values(series_list, start, end, range_s, is_rate)
        return [(s.bare_labels, v) for s, v in zip(produced, values, strict=True)]

    @staticmethod
    def rate_values(
        series_list: Sequence[Series], start: int, end: int, range_s: float, is_rate: bool
    ) -> tuple[list[Series], list[float]]:
        """``rate``/``increase`` of many series in one loop (the hot path of every cycle): the
        series that have a value (two samples or more in the window) and their values.

        Window positions are looked up once per timeline. A series that covers the whole window
        of its timeline (the usual case) shares the window's times, so the extrapolation factor
        is computed once per timeline; only a counter near zero (the zero-point clamp) needs its
        own. Series with gaps or a partial window take the general path. Same arithmetic, in the
        same order, as :func:`glowops.promql.functions.extrapolated_rate`.
        """
        produced: list[Series] = []
        values: list[float] = []
        keep = produced.append
        put = values.append
        cached_tl: Timeline | None = None
        lo0 = hi0 = 0
        times: array[int] = array("q")
        base = 0
        # per timeline: the window's constants when a series covers all of it
        full = False
        to_start0 = to_end = sampled = average = threshold = end_part = factor0 = 0.0
        for series in series_list:
            if series.gaps:
                value = series.extrapolated(start, end, range_s, is_rate)
                if value is not None:
                    keep(series)
                    put(value)
                continue
            tl = series.timeline
            if tl is not cached_tl:
                cached_tl = tl
                lo0, hi0 = tl.positions(start, end)
                times, base = tl.times, tl.base
                full = hi0 - lo0 >= 2
                if full:
                    first_t = times[lo0 - base]
                    last_t = times[hi0 - 1 - base]
                    to_start0 = (first_t - start) / 1000.0
                    to_end = (end - last_t) / 1000.0
                    sampled = (last_t - first_t) / 1000.0
                    average = sampled / (hi0 - lo0 - 1)
                    threshold = average * 1.1
                    end_part = to_end if to_end < threshold else average / 2
                    span = sampled + (to_start0 if to_start0 < threshold else average / 2)
                    span += end_part
                    factor0 = span / sampled
                    if is_rate:
                        factor0 /= range_s
            s0 = series.start
            vals = series.values
            n_end = s0 + len(vals)
            if full and s0 <= lo0 and n_end >= hi0:
                first_v = vals[lo0 - s0]
                result = vals[hi0 - 1 - s0] - first_v
                if series.resets:
                    result += series._correction(hi0 - 1) - series._correction(lo0)
                factor = factor0
                if result > 0 and first_v >= 0:
                    to_zero = sampled * (first_v / result)
                    if to_zero < to_start0:  # a counter cannot be extrapolated below zero
                        span = sampled + (to_zero if to_zero < threshold else average / 2)
                        span += end_part
                        factor = span / sampled
                        if is_rate:
                            factor /= range_s
                keep(series)
                put(result * factor)
                continue
            s_first = series.first
            lo = lo0 if lo0 > s_first else s_first
            hi = n_end if hi0 > n_end else hi0
            count = hi - lo
            if count < 2:
                continue
            first_t = times[lo - base]
            last_t = times[hi - 1 - base]
            first_v = vals[lo - s0] if lo >= s0 else series.value_at(lo)
            result = (vals[hi - 1 - s0] if hi - 1 >= s0 else series.value_at(hi - 1)) - first_v
            if series.resets:
                result += series._correction(hi - 1) - series._correction(lo)
            # Series.extrapolated's arithmetic, inlined on purpose: a call per series costs ~3 ms
            # per evaluation (30,000 series). tests/alerting/test_fast_paths.py keeps them equal.
            to_start = (first_t - start) / 1000.0
            to_end_s = (end - last_t) / 1000.0
            sampled_s = (last_t - first_t) / 1000.0
            average_s = sampled_s / (count - 1)
            if result > 0 and first_v >= 0:
                to_zero = sampled_s * (first_v / result)
                if to_zero < to_start:
                    to_start = to_zero
            threshold_s = average_s * 1.1
            span = sampled_s + (to_start if to_start < threshold_s else average_s / 2)
            span += to_end_s if to_end_s < threshold_s else average_s / 2
            factor = span / sampled_s
            if is_rate:
                factor /= range_s
            keep(series)
            put(result * factor)
        return produced, values

    def series_count(self) -> int:
        return sum(len(f) for f in self.by_name.values())

    def sample_count(self) -> int:
        return sum(s.end - s.first for f in self.by_name.values() for s in f.values())

    def apply_retention(self, now_ms: int, slack: float = 0.05) -> int:
        """Drop samples older than the retention once they exceed it by ``slack``; samples dropped."""
        dropped = 0
        cutoff = now_ms - self.retention_ms
        for tl in self.timelines.values():
            if not tl.times or tl.times[0] >= cutoff - self.retention_ms * slack:
                continue
            keep_from = bisect_left(tl.times, cutoff)
            new_base = tl.base + keep_from
            del tl.times[:keep_from]
            tl.base = new_base
            dropped += keep_from
            for family in self.by_name.values():
                for series in family.values():
                    if series.timeline is tl:
                        series.trim(new_base)
        # series with no samples left disappear
        for name in list(self.by_name):
            family = self.by_name[name]
            for lb in [lb for lb, s in family.items() if not s.values and s.old is None]:
                del family[lb]
                del self._index[lb]
                self.generation += 1
                self.epoch += 1
            if not family:
                del self.by_name[name]
        return dropped

    # --- persistence --------------------------------------------------------------------------
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS tsdb_series (
        id INTEGER PRIMARY KEY, timeline TEXT NOT NULL, labels TEXT NOT NULL UNIQUE);
    CREATE TABLE IF NOT EXISTS tsdb_times (
        timeline TEXT NOT NULL, start_pos INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (timeline, start_pos));
    CREATE TABLE IF NOT EXISTS tsdb_chunks (
        series_id INTEGER NOT NULL, start_pos INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (series_id, start_pos));
    """

    def flush(self, db: sqlite3.Connection) -> int:
        """Append everything written since the last flush; the number of values written."""
        batch = run_steps(self.flush_steps())
        self.write_flush(db, batch)
        return batch.values

    def flush_steps(self) -> Steps[FlushBatch]:
        """What :meth:`flush` writes, copied out of the store in steps (a generator yielding every
        few hundred series, see :mod:`glowops.slicing`); :meth:`write_flush` writes it.

        The copy is taken on the thread that writes the store; the write needs no store access,
        so it may run in a worker thread (SQLite works without the GIL).
        """
        import json

        batch = FlushBatch()
        countdown = _SERIES_PER_STEP
        for tl in self.timelines.values():
            lo = max(tl.flushed, tl.base)
            if lo >= tl.end:
                continue
            batch.times.append((tl.name, lo, tl.times[lo - tl.base :].tobytes()))
            for family in self.by_name.values():
                for series in family.values():
                    if series.timeline is not tl or series.end <= lo:
                        continue
                    countdown -= 1
                    if not countdown:
                        yield
                        countdown = _SERIES_PER_STEP
                    sid = self._series_ids.get(series.labels)
                    s_lo = max(lo, series.start)
                    chunk = series.values[s_lo - series.start :]
                    if sid is None:
                        batch.new_series.append((series.labels, tl.name, json.dumps(series.labels)))
                        batch.new_chunks.append((series.labels, s_lo, chunk.tobytes()))
                    else:
                        batch.chunks.append((sid, s_lo, chunk.tobytes()))
                    batch.values += len(chunk)
                    series.compact(lo)  # what was persisted before this flush may be sealed
            tl.flushed = tl.end
        return batch

    def write_flush(self, db: sqlite3.Connection, batch: FlushBatch) -> None:
        """Write a batch from :meth:`flush_steps` in one transaction: a reader (:meth:`catch_up`)
        sees a flush whole or not at all."""
        db.executescript(self.SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO tsdb_times VALUES (?, ?, ?)", batch.times)
            chunks = list(batch.chunks)
            for (labels, tl_name, key), (_, s_lo, data) in zip(
                batch.new_series, batch.new_chunks, strict=True
            ):
                db.execute(
                    "INSERT OR IGNORE INTO tsdb_series (timeline, labels) VALUES (?, ?)", (tl_name, key)
                )
                sid = db.execute("SELECT id FROM tsdb_series WHERE labels = ?", (key,)).fetchone()[0]
                self._series_ids[labels] = sid
                chunks.append((sid, s_lo, data))
            db.executemany("INSERT OR REPLACE INTO tsdb_chunks VALUES (?, ?, ?)", chunks)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def prune(self, db: sqlite3.Connection) -> None:
        """Delete persisted chunks that lie wholly before the in-memory retention."""
        db.executescript(self.SCHEMA)
        for tl in self.timelines.values():
            db.execute(
                "DELETE FROM tsdb_times WHERE timeline = ? AND start_pos + length(data) / 8 <= ?",
                (tl.name, tl.base),
            )
            db.execute(
                "DELETE FROM tsdb_chunks WHERE start_pos + length(data) / 8 <= ? AND series_id IN "
                "(SELECT id FROM tsdb_series WHERE timeline = ?)",
                (tl.base, tl.name),
            )
        db.commit()

    @classmethod
    def load(cls, db: sqlite3.Connection, retention_ms: int, now_ms: int) -> TSDB:
        """Rebuild a store from SQLite (what :meth:`flush` wrote), dropping expired samples."""
        store = cls(retention_ms)
        store.catch_up(db, now_ms)
        return store

    def catch_up(self, db: sqlite3.Connection, now_ms: int) -> int:
        """Read what :meth:`flush` wrote to SQLite since the previous call (or ever, at first),
        as a worker that does not sample reads the leader's store; the number of rows read.

        Rows are read by rowid: flush only appends, so rows above the highest rowid seen are the
        new ones. All three tables are read in one transaction, one consistent snapshot of a
        flush, which is itself one transaction.
        """
        import json

        db.executescript(self.SCHEMA)
        seen_times, seen_series, seen_chunks = self._seen_rowids
        db.execute("BEGIN")
        try:
            times = db.execute(
                "SELECT rowid, timeline, start_pos, data FROM tsdb_times WHERE rowid > ?"
                " ORDER BY timeline, start_pos",
                (seen_times,),
            ).fetchall()
            series_rows = db.execute(
                "SELECT id, timeline, labels FROM tsdb_series WHERE id > ?", (seen_series,)
            ).fetchall()
            chunks = db.execute(
                "SELECT rowid, series_id, start_pos, data FROM tsdb_chunks WHERE rowid > ?"
                " ORDER BY series_id, start_pos",
                (seen_chunks,),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        for rowid, name, start_pos, data in times:
            tl = self.timeline(name)
            chunk = array("q")
            chunk.frombytes(data)
            if not tl.times:
                tl.base = start_pos
            skip = tl.end - start_pos  # overlapping rewrite of the same positions
            tl.times.extend(chunk[skip:] if skip > 0 else chunk)
            tl.flushed = tl.end
            seen_times = max(seen_times, rowid)
        for sid, tl_name, key in series_rows:
            self._stored_series[sid] = (tl_name, tuple((k, v) for k, v in json.loads(key)))
            seen_series = max(seen_series, sid)
        for rowid, sid, start_pos, data in chunks:
            seen_chunks = max(seen_chunks, rowid)
            known = self._stored_series.get(sid)
            tl_found = self.timelines.get(known[0]) if known is not None else None
            if known is None or tl_found is None:
                continue
            labels = known[1]
            values = array("d")
            values.frombytes(data)
            series = self._index.get(labels) or self.series(labels, tl_found, start_pos)
            self._series_ids[labels] = sid
            for i, value in enumerate(values):
                pos = start_pos + i
                if pos >= series.end and pos < tl_found.end:
                    if value != value and struct.pack("<d", value) == _ABSENT_BYTES:
                        continue
                    series.put(pos, value)
        self._seen_rowids = (seen_times, seen_series, seen_chunks)
        self.apply_retention(now_ms, slack=0.0)
        for family in self.by_name.values():  # everything read here is persisted: seal it
            for series in family.values():
                series.compact(series.timeline.flushed)
        return len(times) + len(series_rows) + len(chunks)
