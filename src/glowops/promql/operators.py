"""Binary operators: scalar arithmetic and comparison, vector matching, set operators."""

from __future__ import annotations

import math
from collections.abc import Callable

from glowops.promql.ast import COMPARISONS, Binary
from glowops.promql.model import NAME, EvaluationError, Labels, Value, Vector, drop_name


def arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            if a == 0 or a != a:
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    if op == "%":
        return math.fmod(a, b) if b != 0 else math.nan
    if op == "^":
        try:
            return math.pow(a, b)
        except (OverflowError, ValueError):
            return math.inf if a > 0 else math.nan
    raise EvaluationError(f"unknown operator {op}")


def compare(op: str, a: float, b: float) -> bool:
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == ">":
        return a > b
    if op == "<":
        return a < b
    if op == ">=":
        return a >= b
    return a <= b


def vector_scalar(node: Binary, lhs: Value, rhs: Value) -> Vector:
    """A vector and a scalar (either side): arithmetic on each sample, or a comparison filter."""
    op = node.op
    swap = isinstance(lhs, float)
    vec = rhs if swap else lhs
    scalar = lhs if swap else rhs
    assert isinstance(vec, list) and isinstance(scalar, float)
    out: Vector = []
    comparison = op in COMPARISONS
    for labels, v in vec:
        a, b = (scalar, v) if swap else (v, scalar)
        if comparison:
            keep = compare(op, a, b)
            if node.return_bool:
                out.append((drop_name(labels), 1.0 if keep else 0.0))
            elif keep:
                out.append((labels, v))  # the vector's value, even when it is on the right
        else:
            out.append((drop_name(labels), arith(op, a, b)))
    return out


def signature_fn(node: Binary) -> Callable[[Labels], Labels]:
    names = frozenset(node.labels)
    if node.on:
        return lambda labels: tuple(p for p in labels if p[0] in names)
    return lambda labels: tuple(p for p in labels if p[0] not in names and p[0] != NAME)


def set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    sig = signature_fn(node)
    if node.op == "and":
        right = {sig(lb) for lb, _ in rhs}
        return [s for s in lhs if sig(s[0]) in right]
    if node.op == "unless":
        right = {sig(lb) for lb, _ in rhs}
        return [s for s in lhs if sig(s[0]) not in right]
    left = {sig(lb) for lb, _ in lhs}
    return lhs + [s for s in rhs if sig(s[0]) not in left]


def vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    sig = signature_fn(node)
    right: dict[Labels, float] = {}
    for labels, value in rhs:
        key = sig(labels)
        if key in right:
            raise EvaluationError(
                f"found duplicate series for the match group {dict(key)} on the right hand-side of the "
                f"operation {node.op!r}; many-to-many matching not allowed"
            )
        right[key] = value
    comparison = node.op in COMPARISONS
    matched: set[Labels] = set()
    out: Vector = []
    names = frozenset(node.labels)
    for labels, lv in lhs:
        key = sig(labels)
        rv = right.get(key)
        if rv is None and key not in right:
            continue
        assert rv is not None
        if comparison:
            keep = compare(node.op, lv, rv)
            if node.return_bool:
                value = 1.0 if keep else 0.0
            elif not keep:
                continue
            else:
                value = lv
        else:
            value = arith(node.op, lv, rv)
        result = labels if comparison and not node.return_bool else drop_name(labels)
        if node.on:
            result = tuple(p for p in result if p[0] in names)
        elif node.ignoring:
            result = tuple(p for p in result if p[0] not in names)
        if key in matched:
            raise EvaluationError(
                f"multiple matches for labels {dict(key)}: many-to-one matching must be explicit "
                "(group_left/group_right are not supported)"
            )
        matched.add(key)
        out.append((result, value))
    return out
