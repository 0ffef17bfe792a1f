"""The PromQL functions: argument types, Prometheus' rate extrapolation, reducers, quantiles."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from glowops.promql.ast import Node, VectorSelector
from glowops.promql.model import NAME, Labels, Vector, label_value, labels_of
from glowops.promql.storage import RateWindow

FUNCTIONS: dict[str, tuple[str, ...]] = {  # argument types: v instant vector, m range vector, s scalar
    "rate": ("m",),
    "increase": ("m",),
    "irate": ("m",),
    "avg_over_time": ("m",),
    "min_over_time": ("m",),
    "max_over_time": ("m",),
    "sum_over_time": ("m",),
    "count_over_time": ("m",),
    "absent_over_time": ("m",),
    "absent": ("v",),
    "histogram_quantile": ("s", "v"),
    "time": (),
    "clamp_min": ("v", "s"),
    "clamp_max": ("v", "s"),
    "vector": ("s",),
}


def absent_labels(node: Node) -> Labels:
    if not isinstance(node, VectorSelector):
        return ()
    seen: dict[str, str | None] = {}
    for m in node.matchers:
        if m.name == NAME or m.op != "=":
            continue
        seen[m.name] = None if m.name in seen else m.value  # a label matched twice is left out
    return labels_of({k: v for k, v in seen.items() if v is not None})


def extrapolated_rate(window: RateWindow, start: int, end: int, range_s: float, *, is_rate: bool) -> float:
    """Prometheus' ``extrapolatedRate`` for counters (``rate`` when ``is_rate``, else ``increase``)."""
    result = window.counter_delta
    duration_to_start = (window.first_t - start) / 1000.0
    duration_to_end = (end - window.last_t) / 1000.0
    sampled = (window.last_t - window.first_t) / 1000.0
    average = sampled / (window.count - 1)
    if result > 0 and window.first_v >= 0:
        # A counter cannot go below zero: don't extrapolate further back than its zero point.
        duration_to_zero = sampled * (window.first_v / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average * 1.1
    extrapolate_to = sampled
    extrapolate_to += duration_to_start if duration_to_start < threshold else average / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else average / 2
    factor = extrapolate_to / sampled
    if is_rate:
        factor /= range_s
    return result * factor


def irate(window: RateWindow) -> float | None:
    # across a counter reset the new value is the whole increase
    reset = window.last_v < window.prev_v
    delta = window.last_v if reset else window.last_v - window.prev_v
    interval = (window.last_t - window.prev_t) / 1000.0
    if interval == 0:
        return None
    return delta / interval


def _avg(values: Sequence[float]) -> float:
    mean = 0.0
    count = 0
    for v in values:
        count += 1
        # an infinite mean stays as it is unless an opposite infinity or NaN arrives
        if math.isinf(mean) and (
            (math.isinf(v) and (mean > 0) == (v > 0)) or not (math.isinf(v) or math.isnan(v))
        ):
            continue
        mean += v / count - mean / count
    return mean


def _min(values: Sequence[float]) -> float:
    out = values[0]
    for v in values:
        if v < out or math.isnan(out):
            out = v
    return out


def _max(values: Sequence[float]) -> float:
    out = values[0]
    for v in values:
        if v > out or math.isnan(out):
            out = v
    return out


def _sum(values: Sequence[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


OVER_TIME: dict[str, Callable[[Sequence[float]], float]] = {
    "avg_over_time": _avg,
    "min_over_time": _min,
    "max_over_time": _max,
    "sum_over_time": _sum,
    "count_over_time": lambda values: float(len(values)),
}


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``bucketQuantile`` over ``(upper_bound, cumulative_count)`` pairs."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not buckets or not math.isinf(buckets[-1][0]):
        return math.nan
    coalesced: list[list[float]] = []
    for bound, count in buckets:  # identical bounds (e.g. "1" and "1.0") add up
        if coalesced and coalesced[-1][0] == bound:
            coalesced[-1][1] += count
        else:
            coalesced.append([bound, count])
    running = -math.inf
    for bucket in coalesced:  # counts must not decrease with the bound (rate() noise fix)
        if bucket[1] > running:
            running = bucket[1]
        elif bucket[1] < running:
            bucket[1] = running
    if len(coalesced) < 2:
        return math.nan
    observations = coalesced[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = len(coalesced) - 1
    for i in range(len(coalesced) - 1):
        if coalesced[i][1] >= rank:
            b = i
            break
    if b == len(coalesced) - 1:
        return coalesced[-2][0]
    if b == 0 and coalesced[0][0] <= 0:
        return coalesced[0][0]
    start = 0.0
    end, count = coalesced[b]
    if b > 0:
        start = coalesced[b - 1][0]
        count -= coalesced[b - 1][1]
        rank -= coalesced[b - 1][1]
    return start + (end - start) * (rank / count)


def histogram_quantile(q: float, vec: Vector) -> Vector:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, value in vec:
        le = label_value(labels, "le")
        try:
            bound = float(le)
        except ValueError:
            continue  # Prometheus drops series without a parseable le
        key = tuple(p for p in labels if p[0] not in ("le", NAME))
        groups.setdefault(key, []).append((bound, value))
    return [(key, bucket_quantile(q, buckets)) for key, buckets in groups.items()]
