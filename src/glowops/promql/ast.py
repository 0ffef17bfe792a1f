"""The syntax tree of the supported PromQL subset, and the operator sets of the language."""

from __future__ import annotations

from dataclasses import dataclass

from glowops.promql.storage import Matcher

AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "count"})
COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
SET_OPS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True, slots=True)
class VectorSelector:
    name: str | None
    matchers: tuple[Matcher, ...]  # includes the __name__ matcher when a name is given


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    vector: VectorSelector
    range_ms: int


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    op: str
    expr: Node
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    on: bool = False  # on(...) given (possibly empty)
    ignoring: bool = False
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    expr: Node


Node = NumberLiteral | VectorSelector | MatrixSelector | Call | Aggregate | Binary | Unary


def is_scalar(node: Node) -> bool:
    """True when the node evaluates to a scalar (numbers, time(), scalar arithmetic)."""
    if isinstance(node, NumberLiteral):
        return True
    if isinstance(node, Call):
        return node.func == "time"
    if isinstance(node, Unary):
        return is_scalar(node.expr)
    if isinstance(node, Binary):
        return is_scalar(node.lhs) and is_scalar(node.rhs)
    return False
