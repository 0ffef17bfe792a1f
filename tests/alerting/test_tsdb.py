"""The embedded store: same answers as a plain list of samples, gaps, staleness, retention, persistence."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from glowops.alerting.outbox import connect
from glowops.promql import NAME, STALE_NAN, TSDB, MemorySeries, labels_of
from glowops.promql.storage import window_from_samples

LB = labels_of({NAME: "c", "job": "x"})
STEP = 15_000


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(0, 1000, allow_nan=False)), min_size=1, max_size=60),
    st.integers(0, 70),
    st.integers(1, 40),
)
def test_rate_window_matches_walking_the_samples(
    values: list[float | None], end_step: int, width: int
) -> None:
    store, ref = TSDB(), MemorySeries(LB)
    for i, v in enumerate(values):
        store.append("s", i * STEP, [(LB, v)] if v is not None else [])
        if v is not None:
            ref.times.append(i * STEP)
            ref.values.append(v)
    end, start = end_step * STEP + 7_000, end_step * STEP + 7_000 - width * STEP
    series = list(store.by_name["c"].values()) if store.by_name else []
    got = series[0].rate_window(start, end) if series else None
    want = window_from_samples(*ref.samples(start, end))
    if want is None:
        assert got is None
        return
    assert got is not None
    assert (got.count, got.first_t, got.last_t, got.prev_t) == (
        want.count,
        want.first_t,
        want.last_t,
        want.prev_t,
    )
    assert abs(got.counter_delta - want.counter_delta) <= 1e-9 * max(1.0, abs(want.counter_delta))
    assert list(series[0].samples(start, end)[1]) == list(ref.samples(start, end)[1])
    assert series[0].instant(end, 300_000) == ref.instant(end, 300_000)


def test_a_stale_marker_ends_a_series_at_once() -> None:
    store = TSDB()
    store.append("s", 0, [(LB, 1.0)])
    store.mark_stale("s", STEP, [LB])
    (series,) = store.by_name["c"].values()
    assert series.instant(0, 300_000) == 1.0
    assert series.instant(STEP, 300_000) is None  # without the marker the lookback would find 1.0
    assert series.rate_window(0, STEP).count == 1  # type: ignore[union-attr]
    assert STALE_NAN != STALE_NAN  # a NaN, told apart from ordinary NaN values by its bits


def test_retention_drops_old_samples_and_keeps_counter_corrections() -> None:
    store = TSDB(retention_ms=60 * STEP)
    values = [float(i % 50) for i in range(200)]  # resets every 50 samples
    for i, v in enumerate(values):
        store.append("s", i * STEP, [(LB, v)])
        store.apply_retention(i * STEP)
    (series,) = store.by_name["c"].values()
    assert len(series.values) <= 64
    window = series.rate_window(150 * STEP, 199 * STEP)
    ref = window_from_samples([i * STEP for i in range(150, 200)], values[150:200])
    assert window == ref


def test_samples_and_gaps_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = TSDB()
    rng = random.Random(7)
    other = labels_of({NAME: "g", "k": "v"})
    for i in range(100):
        batch = [(LB, float(i))]
        if rng.random() < 0.7:
            batch.append((other, rng.random()))
        store.append("s", i * STEP, batch)
        if i in (40, 99):
            store.flush(connect(path))
    loaded = TSDB.load(connect(path), store.retention_ms, 100 * STEP)
    for name in ("c", "g"):
        (a,) = store.by_name[name].values()
        (b,) = loaded.by_name[name].values()
        assert list(a.samples(0, 10**9)[1]) == list(b.samples(0, 10**9)[1])
        assert a.rate_window(0, 10**9) == b.rate_window(0, 10**9)


def test_memory_is_eight_bytes_a_sample() -> None:
    store = TSDB()
    for i in range(5760):  # 24 h at 15 s
        store.append("s", i * STEP, [(LB, float(i))])
    (series,) = store.by_name["c"].values()
    assert series.values.itemsize * len(series.values) == 5760 * 8


def test_out_of_order_batches_are_rejected() -> None:
    store = TSDB()
    assert store.append("s", 2 * STEP, [(LB, 1.0)])
    assert not store.append("s", STEP, [(LB, 2.0)])
    (series,) = store.by_name["c"].values()
    assert list(series.values) == [1.0]
