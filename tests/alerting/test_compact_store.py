"""The compact sample store: sealed chunks answer every query exactly as plain arrays do, and a
gateway's series cost at most 2 bytes a sample."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from glowops.alerting.outbox import connect
from glowops.promql import NAME, STALE_NAN, TSDB, Evaluator, labels_of
from glowops.promql.chunks import CHUNK, decode, encode

STEP = 15_000
QUERIES = (
    "c",
    "rate(c[5m])",
    "increase(c[1h])",
    "rate(c[6h])",
    "sum by (k) (rate(c[2h]))",
    "avg_over_time(c[90m])",
    "max_over_time(c[3h])",
    "count_over_time(c[1h])",
    "irate(c[10m])",
    "sum_over_time(c[4h])",
)


def fill(store: TSDB, values: list[list[float | None]], stale_at: set[int]) -> None:
    for i in range(len(values[0])):
        batch = []
        for k, column in enumerate(values):
            v = column[i]
            if v is not None:
                batch.append((labels_of({NAME: "c", "k": str(k)}), v))
        store.append("s", i * STEP, batch)
        if i in stale_at:
            store.mark_stale("s", i * STEP + 1, [labels_of({NAME: "c", "k": "0"})])


def answers(store: TSDB, times: list[int]) -> list[object]:
    evaluator = Evaluator(store)
    out: list[object] = []
    for query in QUERIES:
        for t in times:
            value = evaluator.evaluate(query, t)
            out.append(sorted(value) if isinstance(value, list) else value)
    return out


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 300))
def test_sealed_chunks_answer_like_plain_arrays(seed: int, keep: int) -> None:
    rng = random.Random(seed)
    n = 1200  # five hours at 15 s: ten chunks per series
    columns: list[list[float | None]] = []
    for _ in range(3):
        value, column = 0.0, []
        for _ in range(n):
            roll = rng.random()
            if roll < 0.03:
                column.append(None)  # a missed scrape
                continue
            value = 0.0 if roll < 0.05 else value + rng.choice([0, 1, 2, 0.25, 7.5])  # resets too
            column.append(value)
        columns.append(column)
    stale = {rng.randrange(n) for _ in range(2)}
    plain, compact = TSDB(), TSDB()
    fill(plain, columns, stale)
    fill(compact, columns, stale)
    sealed = sum(s.compact(n * 2, keep=keep) for s in compact.by_name["c"].values())
    assert sealed > 0
    times = [t * STEP + 3_000 for t in range(0, n + 20, 97)]
    assert answers(compact, times) == answers(plain, times)
    windows = [
        (lo * STEP, (lo + width) * STEP)
        for lo, width in ((rng.randrange(n), rng.randrange(2, 600)) for _ in range(20))
    ]
    for a, b in zip(plain.by_name["c"].values(), compact.by_name["c"].values(), strict=True):
        assert list(a.samples(0, 10**9)[1]) == list(b.samples(0, 10**9)[1])
        for start, end in windows:
            assert a.rate_window(start, end) == b.rate_window(start, end)
            assert a.extrapolated(start, end, 300.0, True) == b.extrapolated(start, end, 300.0, True)
            assert a.instant(end, 300_000) == b.instant(end, 300_000)
    # retention cuts through sealed chunks the same way
    for store in (plain, compact):
        store.retention_ms = 2 * 3600 * 1000
        store.apply_retention(n * STEP, slack=0.0)
    assert answers(compact, times[-4:]) == answers(plain, times[-4:])


def test_a_chunk_comes_back_bit_for_bit() -> None:
    from array import array

    values = array("d", [0.0, -0.0, 1e308, 5e-324, float("inf"), STALE_NAN] * (CHUNK // 6))
    assert decode(encode(values)).tobytes() == values.tobytes()


def test_a_gateways_series_cost_at_most_two_bytes_a_sample(tmp_path: Path) -> None:
    """24 h of 15 s scrapes of histogram children (13 buckets, count, sum) and request counters,
    persisted as the engine does (flush every minute seals what is persisted)."""
    rng = random.Random(3)
    store = TSDB()
    db = connect(tmp_path / "a.db")
    buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf")]
    counts = [0] * len(buckets)
    total, duration, requests = 0, 0.0, [0, 0, 0]
    samples = 5760
    for i in range(samples):
        for _ in range(rng.randrange(0, 6)):  # a handful of requests per scrape
            latency = rng.expovariate(12)
            total += 1
            duration += latency
            for b, bound in enumerate(buckets):
                counts[b] += latency <= bound
            requests[rng.choice((0, 0, 0, 0, 1, 2))] += 1
        batch = [
            (labels_of({NAME: "h_bucket", "le": str(b)}), float(c))
            for b, c in zip(buckets, counts, strict=True)
        ]
        batch += [(labels_of({NAME: "h_count"}), float(total)), (labels_of({NAME: "h_sum"}), duration)]
        batch += [
            (labels_of({NAME: "requests_total", "status": s}), float(v))
            for s, v in zip(("200", "404", "500"), requests, strict=True)
        ]
        store.append("scrape", i * STEP, batch)
        if i % 4 == 3:
            store.flush(db)
    series = [s for family in store.by_name.values() for s in family.values()]
    values_bytes = sum(s.nbytes() for s in series)
    times_bytes = len(store.timeline("scrape").times) * 8
    per_sample = (values_bytes + times_bytes) / (samples * len(series))
    assert per_sample <= 2.0, f"{per_sample:.2f} bytes a sample"
    # and what was sealed still reads back: the same as the persisted copy
    loaded = TSDB.load(db, store.retention_ms, samples * STEP)
    times = [samples * STEP - k * 3600_000 for k in (0, 3, 7, 20)]
    assert answers_for(store, times) == answers_for(loaded, times)


def answers_for(store: TSDB, times: list[int]) -> list[object]:
    evaluator = Evaluator(store)
    out: list[object] = []
    for query in (
        "rate(requests_total[6h])",
        "histogram_quantile(0.9, rate(h_bucket[1h]))",
        "increase(h_count[20h])",
        "h_sum",
        "max_over_time(h_sum[5h])",
    ):
        for t in times:
            value = evaluator.evaluate(query, t)
            out.append(sorted(value) if isinstance(value, list) else value)
    return out
