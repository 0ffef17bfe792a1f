"""The evaluator: one instant query against a storage, memoising identical sub-expressions."""

from __future__ import annotations

import math

from glowops.promql.ast import (
    COMPARISONS,
    SET_OPS,
    Aggregate,
    Binary,
    Call,
    MatrixSelector,
    Node,
    NumberLiteral,
    Unary,
    VectorSelector,
)
from glowops.promql.functions import OVER_TIME, absent_labels, extrapolated_rate, histogram_quantile, irate
from glowops.promql.model import LOOKBACK_MS, NAME, EvaluationError, Labels, Value, Vector, drop_name
from glowops.promql.operators import arith, compare, set_op, vector_scalar, vector_vector
from glowops.promql.parser import parse
from glowops.promql.storage import Storage


class Evaluator:
    """Evaluates parsed expressions against one storage at instant ``t`` (milliseconds)."""

    def __init__(self, storage: Storage, lookback_ms: int = LOOKBACK_MS) -> None:
        self.storage = storage
        self.lookback_ms = lookback_ms
        # Within one evaluation timestamp identical sub-expressions are computed once.
        self._memo: dict[tuple[int, Node], Value] = {}
        self._memo_t: int | None = None
        self._group_keys: dict[tuple[frozenset[str], bool], dict[Labels, Labels]] = {}
        self._series_keys: dict[tuple[frozenset[str], bool], dict[object, Labels]] = {}

    def evaluate(self, node: Node | str, t: int) -> Value:
        """A scalar (float) or an instant vector (list of ``(labels, value)``)."""
        if isinstance(node, str):
            node = parse(node)
        if self._memo_t != t:
            self._memo.clear()
            self._memo_t = t
        return self._eval(node, t)

    def reset_cache(self) -> None:
        """Forget memoised results (call after writing samples at the current timestamp)."""
        self._memo.clear()

    def _eval(self, node: Node, t: int) -> Value:
        if isinstance(node, NumberLiteral):
            return node.value
        if isinstance(node, (Call, Aggregate)):
            key = (t, node)
            hit = self._memo.get(key)
            if hit is not None:
                return hit
            value = self._call(node, t) if isinstance(node, Call) else self._aggregate(node, t)
            self._memo[key] = value
            return value
        if isinstance(node, VectorSelector):
            out: Vector = []
            lookback = self.lookback_ms
            for series in self.storage.select(node.matchers):
                v = series.instant(t, lookback)
                if v is not None:
                    out.append((series.labels, v))
            return out
        if isinstance(node, Binary):
            return self._binary(node, t)
        if isinstance(node, Unary):
            inner = self._eval(node.expr, t)
            if isinstance(inner, float):
                return -inner
            return [(drop_name(labels), -v) for labels, v in inner]
        raise EvaluationError(f"a range vector cannot be evaluated on its own: {node}")

    # --- functions -----------------------------------------------------------------------------
    def _call(self, node: Call, t: int) -> Value:
        func = node.func
        if func == "time":
            return t / 1000.0
        if func == "vector":
            return [((), self._scalar(node.args[0], t))]
        if func in ("clamp_min", "clamp_max"):
            vec = self._vector(node.args[0], t)
            bound = self._scalar(node.args[1], t)
            pick = max if func == "clamp_min" else min
            return [(drop_name(lb), v if math.isnan(v) else pick(v, bound)) for lb, v in vec]
        if func == "absent":
            vec = self._vector(node.args[0], t)
            return [] if vec else [(absent_labels(node.args[0]), 1.0)]
        if func == "histogram_quantile":
            return histogram_quantile(self._scalar(node.args[0], t), self._vector(node.args[1], t))
        arg = node.args[0]
        assert isinstance(arg, MatrixSelector)
        start, end = t - arg.range_ms, t
        series_list = self.storage.select(arg.vector.matchers)
        if func == "absent_over_time":
            for series in series_list:
                if series.rate_window(start, end) is not None:
                    return []
            return [(absent_labels(arg.vector), 1.0)]
        out: Vector = []
        batch = getattr(self.storage, "rates", None)
        if func in ("rate", "increase") and batch is not None:
            # the store computes them in one loop (the hot path of every cycle)
            result: Vector = batch(series_list, start, end, arg.range_ms / 1000.0, func == "rate")
            return result
        if func in ("rate", "increase", "irate"):
            range_s = arg.range_ms / 1000.0
            for series in series_list:
                window = series.rate_window(start, end)
                if window is None or window.count < 2:
                    continue
                if func == "irate":
                    value = irate(window)
                    if value is None:
                        continue
                else:
                    value = extrapolated_rate(window, start, end, range_s, is_rate=func == "rate")
                out.append((drop_name(series.labels), value))
            return out
        reducer = OVER_TIME[func]
        for series in series_list:
            _, values = series.samples(start, end)
            if values:
                out.append((drop_name(series.labels), reducer(values)))
        return out

    def _scalar(self, node: Node, t: int) -> float:
        value = self._eval(node, t)
        if not isinstance(value, float):
            raise EvaluationError("expected a scalar")
        return value

    def _vector(self, node: Node, t: int) -> Vector:
        value = self._eval(node, t)
        if isinstance(value, float):
            raise EvaluationError("expected an instant vector")
        return value

    # --- aggregation -------------------------------------------------------------------------
    def _aggregate(self, node: Aggregate, t: int) -> Vector:
        grouping = frozenset(node.grouping)
        inner = node.expr
        if (
            node.op == "sum"
            and isinstance(inner, Call)
            and inner.func in ("rate", "increase")
            and hasattr(self.storage, "rate_values")
        ):
            return self._sum_of_rates(node, inner, grouping, t)
        vec = self._vector(node.expr, t)
        groups: dict[Labels, list[float]] = {}
        key_cache = self._group_keys.setdefault((grouping, node.without), {})
        if len(key_cache) > 200_000:  # label sets churn: don't grow without bound
            key_cache.clear()
        for labels, value in vec:
            key = key_cache.get(labels)
            if key is None:
                if node.without:
                    key = tuple(p for p in labels if p[0] not in grouping and p[0] != NAME)
                elif grouping:
                    key = tuple(p for p in labels if p[0] in grouping)
                else:
                    key = ()
                key_cache[labels] = key
            acc = groups.get(key)
            if acc is None:
                groups[key] = acc = [value, 1.0, value]  # [running value, count, avg mean]
                continue
            acc[1] += 1
            if node.op == "sum":
                acc[0] += value
            elif node.op == "min":
                if acc[0] > value or math.isnan(acc[0]):
                    acc[0] = value
            elif node.op == "max":
                if acc[0] < value or math.isnan(acc[0]):
                    acc[0] = value
            elif node.op == "avg":
                mean = acc[2]
                if math.isinf(mean) and (
                    (math.isinf(value) and (mean > 0) == (value > 0))
                    or not (math.isinf(value) or math.isnan(value))
                ):
                    continue
                # Prometheus' incremental mean (avoids overflow on large values)
                acc[2] = mean + value / acc[1] - mean / acc[1]
        out: Vector = []
        for key, acc in groups.items():
            if node.op == "count":
                out.append((key, acc[1]))
            elif node.op == "avg":
                out.append((key, acc[2]))
            else:
                out.append((key, acc[0]))
        return out

    def _sum_of_rates(self, node: Aggregate, call: Call, grouping: frozenset[str], t: int) -> Vector:
        """``sum [by|without] (rate|increase(m[r]))`` without building the inner vector.

        The same values, added in the same order, as :meth:`_aggregate` over :meth:`_call`'s
        result; the group of a series is cached under the series object (identity hash), so the
        label tuples of 10,000 series are not hashed every evaluation.
        """
        arg = call.args[0]
        assert isinstance(arg, MatrixSelector)
        series_list = self.storage.select(arg.vector.matchers)
        produced, values = self.storage.rate_values(  # type: ignore[attr-defined]
            series_list, t - arg.range_ms, t, arg.range_ms / 1000.0, call.func == "rate"
        )
        if not values:
            return []
        if not grouping and not node.without:
            total = values[0]
            for value in values[1:]:
                total += value
            return [((), total)]
        key_cache = self._series_keys.setdefault((grouping, node.without), {})
        if len(key_cache) > 200_000:  # series churn: don't grow without bound
            key_cache.clear()
        groups: dict[Labels, float] = {}
        for series, value in zip(produced, values, strict=True):
            key = key_cache.get(series)
            if key is None:
                labels = series.bare_labels
                if node.without:
                    key = tuple(p for p in labels if p[0] not in grouping and p[0] != NAME)
                else:
                    key = tuple(p for p in labels if p[0] in grouping)
                key_cache[series] = key
            acc = groups.get(key)
            groups[key] = value if acc is None else acc + value
        return list(groups.items())

    # --- binary operators --------------------------------------------------------------------
    def _binary(self, node: Binary, t: int) -> Value:
        lhs = self._eval(node.lhs, t)
        rhs = self._eval(node.rhs, t)
        op = node.op
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in COMPARISONS:
                return 1.0 if compare(op, lhs, rhs) else 0.0
            return arith(op, lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return vector_scalar(node, lhs, rhs)
        assert not isinstance(lhs, float) and not isinstance(rhs, float)
        if op in SET_OPS:
            return set_op(node, lhs, rhs)
        return vector_vector(node, lhs, rhs)


def evaluate(node: Node | str, storage: Storage, t: int, lookback_ms: int = LOOKBACK_MS) -> Value:
    """Evaluate ``node`` at ``t`` (milliseconds since the epoch): a float or an instant vector."""
    return Evaluator(storage, lookback_ms).evaluate(node, t)
