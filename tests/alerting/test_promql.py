"""The PromQL subset: parsing, errors, and values worked out by hand from Prometheus' algorithms."""

from __future__ import annotations

import math

import pytest

from glowops.promql import (
    NAME,
    EvaluationError,
    MemoryStorage,
    PromQLError,
    Vector,
    bucket_quantile,
    evaluate,
    labels_of,
    parse,
)

MIN = 60_000


def store_with(series: dict[str, list[float | None]], step: int = MIN) -> MemoryStorage:
    """``{'name{a="b"}': [values at 0, step, 2*step...]}`` (None: no sample)."""
    store = MemoryStorage()
    for spec, values in series.items():
        name, _, rest = spec.partition("{")
        pairs = {NAME: name}
        for item in filter(None, rest.rstrip("}").split(",")):
            key, _, value = item.partition("=")
            pairs[key.strip()] = value.strip().strip('"')
        for i, v in enumerate(values):
            if v is not None:
                store.add(labels_of(pairs), i * step, v)
    return store


def single(value: float | Vector) -> float:
    assert isinstance(value, list) and len(value) == 1, value
    return value[0][1]


def as_dict(value: float | Vector) -> dict[str, float]:
    assert isinstance(value, list)
    return {",".join(f"{k}={v}" for k, v in labels): v for labels, v in value}


COUNTER = {"c": [10.0 * i for i in range(12)]}  # 0, 10, 20 ... 110 at one-minute steps


def test_rate_and_increase_without_extrapolation_when_samples_touch_both_ends() -> None:
    store = store_with(COUNTER)
    # [5m, 10m] holds 6 samples 50..100: delta 50 over exactly 300 s
    assert single(evaluate("increase(c[5m])", store, 10 * MIN)) == pytest.approx(50)
    assert single(evaluate("rate(c[5m])", store, 10 * MIN)) == pytest.approx(50 / 300)


def test_increase_extrapolates_to_the_window_edges() -> None:
    store = store_with(COUNTER)
    # at 10m30s the window [5m30s, 10m30s] holds 60..100 at 6m..10m: delta 40 over 240 s,
    # 30 s missing at each end (< 1.1 x 60 s), so it extrapolates to 300 s: 40 * 300/240
    assert single(evaluate("increase(c[5m])", store, 10 * MIN + 30_000)) == pytest.approx(50)


def test_extrapolation_stops_at_half_an_interval_when_the_gap_is_large() -> None:
    store = store_with({"c": [None] * 5 + [50.0, 60.0, 70.0]})  # series starts at 5m
    # window [2m, 7m]: samples at 5m, 6m, 7m; 180 s before the first sample is more than 66 s,
    # so only 30 s (half the average interval) is added; the zero point (5 intervals back) is
    # further away than that: 20 * (120 + 30) / 120 = 25
    assert single(evaluate("increase(c[5m])", store, 7 * MIN)) == pytest.approx(25)


def test_counters_are_not_extrapolated_below_zero() -> None:
    store = store_with({"c": [5.0, 15.0, 25.0]})
    # window [-3m, 2m]: delta 20 over 120 s. Zero point 30 s before the first sample (5/20 of
    # 120 s) is closer than the window start, so 30 s is added: 20 * 150/120 = 25
    assert single(evaluate("increase(c[5m])", store, 2 * MIN)) == pytest.approx(25)


def test_counter_resets_add_the_value_before_the_reset() -> None:
    store = store_with({"c": [0.0, 10.0, 20.0, 5.0, 15.0]})
    # window [-1m, 4m] holds all five: 15 - 0 + 20 (reset after 20) = 35; first value 0 means
    # the zero point is at the first sample, so no extrapolation at the start, none at the end
    assert single(evaluate("increase(c[5m])", store, 4 * MIN)) == pytest.approx(35)
    # irate: the last two samples 5 -> 15 over 60 s; across a reset it uses the new value
    assert single(evaluate("irate(c[5m])", store, 4 * MIN)) == pytest.approx(10 / 60)
    assert single(evaluate("irate(c[5m])", store, 3 * MIN)) == pytest.approx(5 / 60)


def test_rate_needs_two_samples() -> None:
    store = store_with({"c": [None] * 9 + [1.0]})
    assert evaluate("rate(c[5m])", store, 9 * MIN) == []


def test_over_time_functions() -> None:
    store = store_with({"g": [1.0, 5.0, 3.0, 7.0, 4.0]})
    at = 4 * MIN
    assert single(evaluate("avg_over_time(g[3m])", store, at)) == pytest.approx((5 + 3 + 7 + 4) / 4)
    assert single(evaluate("min_over_time(g[3m])", store, at)) == 3
    assert single(evaluate("max_over_time(g[10m])", store, at)) == 7
    assert single(evaluate("sum_over_time(g[3m])", store, at)) == 19
    assert single(evaluate("count_over_time(g[3m])", store, at)) == 4  # closed interval [1m, 4m]


def test_instant_selector_looks_back_five_minutes() -> None:
    store = store_with({"g": [1.0, 2.0]})
    assert single(evaluate("g", store, 6 * MIN)) == 2  # last sample at 1m, exactly 5m back
    assert evaluate("g", store, 6 * MIN + 1) == []


def test_label_matchers_are_anchored_regexes() -> None:
    store = store_with(
        {
            'r{status="500"}': [1.0],
            'r{status="502"}': [2.0],
            'r{status="2500"}': [3.0],
            'r{status="200"}': [4.0],
        }
    )
    assert sorted(v for _, v in evaluate('r{status=~"5.."}', store, 0)) == [1, 2]  # type: ignore[union-attr]
    assert sorted(v for _, v in evaluate('r{status!~"5.."}', store, 0)) == [3, 4]  # type: ignore[union-attr]
    assert sorted(v for _, v in evaluate('r{status!="200"}', store, 0)) == [1, 2, 3]  # type: ignore[union-attr]


def test_aggregations_by_and_without_in_either_position() -> None:
    store = store_with(
        {
            'h{route="a",code="200"}': [1.0],
            'h{route="a",code="500"}': [3.0],
            'h{route="b",code="200"}': [10.0],
        }
    )
    by_route = {"route=a": 4.0, "route=b": 10.0}
    assert as_dict(evaluate("sum by (route) (h)", store, 0)) == by_route
    assert as_dict(evaluate("sum(h) by (route)", store, 0)) == by_route
    assert as_dict(evaluate("sum without (code) (h)", store, 0)) == by_route
    assert as_dict(evaluate("avg(h)", store, 0)) == {"": pytest.approx(14 / 3)}
    assert as_dict(evaluate("max by (code) (h)", store, 0)) == {"code=200": 10, "code=500": 3}
    assert as_dict(evaluate("min(h)", store, 0)) == {"": 1}
    assert as_dict(evaluate("count without (route) (h)", store, 0)) == {"code=200": 2, "code=500": 1}


def test_binary_operators_match_one_to_one_and_drop_the_name() -> None:
    store = store_with(
        {
            'a{x="1",y="p"}': [6.0],
            'a{x="2",y="p"}': [8.0],
            'b{x="1",y="q"}': [2.0],
            'b{x="2",y="q"}': [0.0],
        }
    )
    assert evaluate("a / b", store, 0) == []  # y differs: nothing matches
    assert as_dict(evaluate("a / on(x) b", store, 0)) == {"x=1": 3.0, "x=2": math.inf}
    assert as_dict(evaluate("a / ignoring(y) b", store, 0)) == {"x=1": 3.0, "x=2": math.inf}
    # comparisons filter and keep the left-hand side (with its name); bool returns 0/1 without it
    assert as_dict(evaluate("a > 7", store, 0)) == {"__name__=a,x=2,y=p": 8.0}
    assert as_dict(evaluate("7 < a", store, 0)) == {"__name__=a,x=2,y=p": 8.0}
    assert as_dict(evaluate("a > bool 7", store, 0)) == {"x=1,y=p": 0.0, "x=2,y=p": 1.0}
    assert as_dict(evaluate("1 - a * 2", store, 0)) == {"x=1,y=p": -11.0, "x=2,y=p": -15.0}
    assert evaluate("time() - 40", store, 100_000) == pytest.approx(60.0)
    assert evaluate("2 > bool 1", store, 0) == 1.0


def test_set_operators() -> None:
    store = store_with({'a{x="1"}': [1.0], 'a{x="2"}': [2.0], 'b{x="2"}': [5.0]})
    assert as_dict(evaluate("a and b", store, 0)) == {"__name__=a,x=2": 2.0}
    assert as_dict(evaluate("a unless b", store, 0)) == {"__name__=a,x=1": 1.0}
    assert as_dict(evaluate("b or a", store, 0)) == {"__name__=b,x=2": 5.0, "__name__=a,x=1": 1.0}
    assert as_dict(evaluate("a and on() (max(b) > 3)", store, 0)) == {
        "__name__=a,x=1": 1.0,
        "__name__=a,x=2": 2.0,
    }
    assert evaluate("a and on() (max(b) > 9)", store, 0) == []
    # precedence: comparisons bind tighter than and/unless, which bind tighter than or
    assert as_dict(evaluate("a > 1 unless b > 9", store, 0)) == {"__name__=a,x=2": 2.0}


def test_absent_vector_clamp_and_empty_series() -> None:
    store = store_with({"g": [5.0]})
    assert evaluate('absent(nope{job="api",x=~"y"})', store, 0) == [(labels_of({"job": "api"}), 1.0)]
    assert evaluate("absent(g)", store, 0) == []
    assert evaluate("absent_over_time(nope[5m])", store, 0) == [((), 1.0)]
    assert evaluate("absent_over_time(g[5m])", store, 0) == []
    assert evaluate("(sum(nope) or vector(0))", store, 0) == [((), 0.0)]
    assert single(evaluate("clamp_max(g, 3)", store, 0)) == 3
    assert single(evaluate("clamp_min(g, 9)", store, 0)) == 9


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    buckets = [(0.1, 50.0), (0.5, 80.0), (1.0, 95.0), (math.inf, 100.0)]
    assert bucket_quantile(0.9, buckets) == pytest.approx(0.5 + 0.5 * (10 / 15))
    assert bucket_quantile(0.3, buckets) == pytest.approx(0.06)
    # the rank lands in +Inf: the upper bound of the highest finite bucket
    assert bucket_quantile(0.99, buckets) == 1.0
    # non-monotonic counts (rate noise) are raised to the running maximum
    assert bucket_quantile(
        0.55, [(0.1, 50.0), (0.5, 45.0), (1.0, 100.0), (math.inf, 100.0)]
    ) == pytest.approx(0.5 + 0.5 * (5 / 50))
    assert math.isnan(bucket_quantile(0.5, [(0.1, 1.0), (1.0, 2.0)]))  # no +Inf bucket
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))  # no observations
    assert bucket_quantile(1.5, buckets) == math.inf and bucket_quantile(-1, buckets) == -math.inf


def test_histogram_quantile_groups_by_everything_but_le() -> None:
    store = store_with(
        {
            'd_bucket{le="0.1",r="a"}': [50.0],
            'd_bucket{le="1.0",r="a"}': [100.0],
            'd_bucket{le="+Inf",r="a"}': [100.0],
            'd_bucket{le="0.1",r="b"}': [100.0],
            'd_bucket{le="1.0",r="b"}': [100.0],
            'd_bucket{le="+Inf",r="b"}': [100.0],
        }
    )
    got = as_dict(evaluate("histogram_quantile(0.75, d_bucket)", store, 0))
    assert got == {"r=a": pytest.approx(0.1 + 0.9 * 0.5), "r=b": pytest.approx(0.075)}


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("rate(x)", "range vector"),
        ("rate(x[5m]", "expected"),
        ("x offset 5m", "offset"),
        ("x[5m:1m]", "subquer"),
        ("foo(x)", "not supported"),
        ("x / on(a) group_left b", "group_left"),
        ("1 > 2", "bool"),
        ('x{a=~"("}', "regular expression"),
        ("x[5q]", "duration"),
        ("", "empty"),
        ("sum(x) by", "expected"),
        ('{a=""}', "non-empty"),
    ],
)
def test_malformed_expressions_raise_a_clear_error(expr: str, message: str) -> None:
    with pytest.raises(PromQLError, match=message):
        parse(expr)


def test_many_to_many_matching_is_an_evaluation_error() -> None:
    store = store_with({'a{x="1",y="1"}': [1.0], 'a{x="1",y="2"}': [1.0], 'b{x="1"}': [1.0]})
    with pytest.raises(EvaluationError, match="multiple matches"):
        evaluate("a + on(x) b", store, 0)
    with pytest.raises(EvaluationError, match="duplicate series"):
        evaluate("b + on(x) a", store, 0)


def test_every_catalog_expression_parses() -> None:
    from glowops.alerting.rules import build_catalog
    from glowops_prismaglow import pack

    catalog = build_catalog(packs=[pack])
    for rule in catalog.alerts:
        parse(rule.expr)
    for rec in catalog.recording:
        parse(rec.expr)
