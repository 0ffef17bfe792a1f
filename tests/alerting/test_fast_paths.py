"""The cycle's fast paths give exactly what the general paths give.

- ``TSDB.rate_values`` (per-timeline extrapolation constants) and the evaluator's fused
  ``sum [by|without] (rate(...))`` against the evaluator on a storage without them (which walks
  ``rate_window`` + ``extrapolated_rate`` + the generic aggregation): bit-identical values;
- the sampler's cached Series objects: staleness markers, series coming back, series removed by
  retention and written again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge

from glowops.alerting.sampler import SCRAPE_TIMELINE, Sampler
from glowops.promql import NAME, TSDB, Evaluator, Labels, Matcher, Series, is_stale, labels_of

STEP = 15_000


class _Plain:
    """The store seen through the Storage protocol only (no batch rate paths)."""

    def __init__(self, store: TSDB) -> None:
        self.store = store

    def select(self, matchers: tuple[Matcher, ...]) -> Sequence[Series]:
        return self.store.select(matchers)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _assert_same_vectors(got: object, want: object) -> None:
    assert isinstance(got, list) and isinstance(want, list)
    assert [lb for lb, _ in got] == [lb for lb, _ in want]
    for (_, g), (_, w) in zip(got, want, strict=True):
        assert _same(g, w), (g, w)


def _busy_store(seed: int) -> tuple[TSDB, int]:
    """Series of every shape on two timelines: whole window, young, vanished, gaps, resets,
    counters starting near zero, NaN values."""
    rnd = random.Random(seed)
    store = TSDB()
    series = [
        labels_of({NAME: "req_total", "route": f"/r{i}", "le": rnd.choice(["0.1", "1", "+Inf"])})
        for i in range(40)
    ]
    values = {lb: rnd.choice([0.0, 0.5, 100.0, 1e6]) for lb in series}
    starts = {lb: rnd.choice([0, 0, 0, 5, 30, 55]) for lb in series}
    stops = {lb: rnd.choice([60, 60, 60, 40, 58]) for lb in series}
    t = 0
    for step in range(60):
        t = step * STEP + rnd.randint(0, 900)  # jittered scrapes
        batch: list[tuple[Labels, float]] = []
        for lb in series:
            if not starts[lb] <= step < stops[lb] or rnd.random() < 0.03:  # missed scrape: a gap
                continue
            roll = rnd.random()
            if roll < 0.03:
                values[lb] = rnd.choice([0.0, 1.0])  # counter reset
            elif roll < 0.04:
                batch.append((lb, math.nan))
                continue
            else:
                values[lb] += rnd.choice([0.0, 0.25, 3.0, 40.0])
            batch.append((lb, values[lb]))
        store.append("scrape", t, batch)
        vanished = [lb for lb in series if stops[lb] == step]
        if vanished:
            store.mark_stale("scrape", t, vanished)
        # a second timeline (recording-rule outputs)
        store.append("rules", t, [(labels_of({NAME: "req_total", "route": "rec"}), float(step * 2))])
    return store, t


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([60_000, 300_000, 900_000, 3_600_000]), st.integers(0, 40_000))
def test_rates_and_sums_of_rates_equal_the_general_path(seed: int, range_ms: int, shift: int) -> None:
    store, last = _busy_store(seed)
    t = last - shift
    fast, plain = Evaluator(store), Evaluator(_Plain(store))
    for func in ("rate", "increase"):
        for expr in (
            f"{func}(req_total[{range_ms}ms])",
            f"sum({func}(req_total[{range_ms}ms]))",
            f"sum by (le) ({func}(req_total[{range_ms}ms]))",
            f"sum without (route) ({func}(req_total[{range_ms}ms]))",
            f'sum by (route, le) ({func}(req_total{{le="+Inf"}}[{range_ms}ms]))',
        ):
            _assert_same_vectors(fast.evaluate(expr, t), plain.evaluate(expr, t))
    # and the batch itself: same series, same values as one series at a time
    selected = store.select((Matcher.make(NAME, "=", "req_total"),))
    produced, values = TSDB.rate_values(selected, t - range_ms, t, range_ms / 1000.0, True)
    one_by_one = [
        (s, v)
        for s in selected
        if (v := s.extrapolated(t - range_ms, t, range_ms / 1000.0, True)) is not None
    ]
    assert produced == [s for s, _ in one_by_one]
    assert all(_same(a, b) for a, (_, b) in zip(values, one_by_one, strict=True))


def test_the_zero_point_clamp_is_per_series() -> None:
    """Two counters on one timeline, one starting near zero: only that one is clamped."""
    store = TSDB()
    near_zero, far = labels_of({NAME: "c", "k": "a"}), labels_of({NAME: "c", "k": "b"})
    near_values = [0, 0, 0, 0, 0.5, 100, 200, 300]
    for i in range(1, 9):
        store.append("s", i * STEP, [(near_zero, float(near_values[i - 1])), (far, 1000.0 + 100 * i)])
    t = 8 * STEP + 5_000  # window 65 s..125 s: samples 75..120 s, 10 s to extrapolate at the start
    fast = Evaluator(store).evaluate("increase(c[1m])", t)
    plain = Evaluator(_Plain(store)).evaluate("increase(c[1m])", t)
    _assert_same_vectors(fast, plain)
    assert isinstance(fast, list)
    by_key = dict(fast)
    # a: 299.5 over 45 s sampled, extrapolated back only to its zero point (0.075 s), 5 s forward
    assert math.isclose(by_key[(("k", "a"),)], 299.5 * (45 + 45 * 0.5 / 299.5 + 5) / 45)
    assert math.isclose(by_key[(("k", "b"),)], 300 * (45 + 10 + 5) / 45)  # b: the full 10 s


def _stored(store: TSDB, name: str) -> dict[Labels, Series]:
    return store.by_name.get(name, {})


def test_sampler_marks_vanished_series_stale_and_writes_returning_ones() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("g", "", ["k"], registry=registry)
    for k in "abc":
        gauge.labels(k).set(1)
    store = TSDB(retention_ms=10 * STEP)
    sampler = Sampler(registry, store, {"job": "j"})
    assert sampler.sample(STEP) == 3
    gauge.remove("b")
    gauge.labels("a").set(2)
    assert sampler.sample(2 * STEP) == 2
    b = _stored(store, "g")[labels_of({NAME: "g", "k": "b", "job": "j"})]
    assert is_stale(b.values[-1]) and b.instant(2 * STEP, 300_000) is None
    gauge.labels("b").set(5)  # comes back: the cached Series is written again
    assert sampler.sample(3 * STEP) == 3
    assert b.instant(3 * STEP, 300_000) == 5.0
    a = _stored(store, "g")[labels_of({NAME: "g", "k": "a", "job": "j"})]
    assert list(a.values) == [1.0, 2.0, 2.0]
    # rejected like an out-of-order sample
    assert sampler.sample(2 * STEP) == 0
    assert len(a.values) == 3


def test_sampler_after_retention_removed_its_series() -> None:
    """A series dropped by retention (no sample left) is created again on the next write."""
    registry = CollectorRegistry()
    gauge = Gauge("g", "", ["k"], registry=registry)
    gauge.labels("a").set(1)
    store = TSDB(retention_ms=2 * STEP)
    sampler = Sampler(registry, store)
    sampler.sample(STEP)
    gauge.remove("a")
    sampler.sample(2 * STEP)
    store.append(SCRAPE_TIMELINE, 10 * STEP, [])
    store.apply_retention(10 * STEP, slack=0.0)
    assert _stored(store, "g") == {}
    gauge.labels("a").set(7)
    sampler.sample(11 * STEP)
    (series,) = _stored(store, "g").values()
    assert list(series.values) == [7.0]
    assert series.instant(11 * STEP, 300_000) == 7.0
