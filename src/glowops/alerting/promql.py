"""A parser and evaluator for the PromQL subset the rule catalog uses (see :mod:`glowops.alerting.rules`).

The semantics follow Prometheus 2.x (the version Debian ships and promtool tests against):

- instant selectors look back 5 minutes for the newest sample (closed interval), a staleness
  marker ends a series at once;
- range selectors take the samples in the closed interval ``[t - range, t]``;
- ``rate``/``increase`` extrapolate like Prometheus' ``extrapolatedRate`` (counter resets,
  the 1.1x average-interval rule, no extrapolation below zero for counters);
- ``histogram_quantile`` interpolates linearly inside the bucket, coalesces duplicate ``le``,
  enforces monotonic bucket counts and needs a ``+Inf`` bucket;
- functions and arithmetic drop the metric name; comparisons without ``bool`` filter and keep it.

Usage::

    expr = parse('sum by (route) (rate(http_requests_total{status=~"5.."}[5m])) > 0.1')
    vector = evaluate(expr, storage, t_ms)

``storage`` is anything with a ``select(matchers)`` method returning :class:`SeriesView`
objects (the embedded TSDB, or :class:`MemoryStorage` in tests).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from glowops.alerting.durations import parse_duration

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, hashable
Sample = tuple[Labels, float]
Vector = list[Sample]
NAME = "__name__"
LOOKBACK_MS = 5 * 60 * 1000


class PromQLError(ValueError):
    """A malformed expression, or one outside the supported subset."""


class EvaluationError(RuntimeError):
    """An expression that cannot be evaluated on the data (e.g. many-to-many matching)."""


def labels_of(mapping: dict[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Sorted label pairs, leaving out empty values (Prometheus treats ``""`` as absent)."""
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return tuple(sorted((k, v) for k, v in items if v != ""))


def label_value(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def format_labels(labels: Labels) -> str:
    name = label_value(labels, NAME)
    inner = ", ".join(f'{k}="{v}"' for k, v in labels if k != NAME)
    return f"{name}{{{inner}}}"


# --------------------------------------------------------------------------------------------
# Storage interface
# --------------------------------------------------------------------------------------------
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


# Prometheus' staleness marker: a NaN with a specific payload, distinct from an ordinary NaN.
STALE_BITS = 0x7FF0000000000002


def _make_stale() -> float:
    import struct

    value: float = struct.unpack("<d", struct.pack("<Q", STALE_BITS))[0]
    return value


STALE_NAN = _make_stale()
_STALE_BYTES = STALE_BITS.to_bytes(8, "little")


def is_stale(value: float) -> bool:
    """True for the staleness marker (ordinary NaN samples are values, not markers)."""
    if value == value:  # not NaN: the fast path
        return False
    import struct

    return struct.pack("<d", value) == _STALE_BYTES


# --------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------
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

# --------------------------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*(?![A-Za-z0-9_]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],])
    """,
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


def _unquote(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _lex(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos].isdigit():
                word = re.match(r"\w+", text[pos:])
                raise PromQLError(
                    f"bad number or duration {word.group() if word else text[pos]!r} at position {pos} in "
                    f"{text!r} (durations look like 30s, 5m, 1h)"
                )
            raise PromQLError(f"unexpected character {text[pos]!r} at position {pos} in {text!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Tok("eof", "", len(text)))
    return tokens


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------
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
AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "count"})
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
SET_OPS = frozenset({"and", "or", "unless"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.i = 0

    def peek(self, offset: int = 0) -> _Tok:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Tok | None = None) -> PromQLError:
        tok = tok or self.peek()
        return PromQLError(f"{message} at position {tok.pos} in {self.text!r}")

    def expect(self, text: str) -> _Tok:
        tok = self.next()
        if tok.text != text:
            raise self.error(f"expected {text!r}, found {tok.text or 'end of input'!r}", tok)
        return tok

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek().kind != "eof":
            raise self.error(f"unexpected {self.peek().text!r}")
        return node

    def binary_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == "op" and tok.text in _PRECEDENCE:
            return tok.text
        if tok.kind == "ident" and tok.text in SET_OPS:
            return tok.text
        return None

    def expr(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            op = self.binary_op()
            if op is None or _PRECEDENCE[op] < min_prec:
                return left
            self.next()
            return_bool = False
            if self.peek().text == "bool":
                if op not in COMPARISONS:
                    raise self.error("bool modifier can only be used on comparison operators")
                self.next()
                return_bool = True
            on = ignoring = False
            names: tuple[str, ...] = ()
            if self.peek().text in ("on", "ignoring"):
                on = self.next().text == "on"
                ignoring = not on
                names = self.label_list()
            if self.peek().text in ("group_left", "group_right"):
                raise self.error(f"{self.peek().text} is not supported by the embedded engine")
            # ^ is right-associative, everything else left-associative
            right = self.expr(_PRECEDENCE[op] + (0 if op == "^" else 1))
            left = self.combine(op, left, right, return_bool, on, ignoring, names)

    def combine(
        self,
        op: str,
        left: Node,
        right: Node,
        return_bool: bool,
        on: bool,
        ignoring: bool,
        names: tuple[str, ...],
    ) -> Node:
        lscalar, rscalar = is_scalar(left), is_scalar(right)
        if op in SET_OPS and (lscalar or rscalar):
            raise PromQLError(f"set operator {op!r} not allowed in binary scalar expression in {self.text!r}")
        if op in COMPARISONS and lscalar and rscalar and not return_bool:
            raise PromQLError(f"comparisons between scalars must use the bool modifier in {self.text!r}")
        if (on or ignoring) and (lscalar or rscalar):
            raise PromQLError(f"vector matching only allowed between instant vectors in {self.text!r}")
        for side in (left, right):
            if isinstance(side, MatrixSelector):
                raise PromQLError(
                    f"binary expression must contain only scalar and instant vector types in {self.text!r}"
                )
        return Binary(op, left, right, return_bool, on, ignoring, names)

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("-", "+"):
            self.next()
            inner = self.expr(_PRECEDENCE["*"] + 1)  # binds tighter than * and /, looser than ^
            if tok.text == "+":
                return inner
            if isinstance(inner, NumberLiteral):
                return NumberLiteral(-inner.value)
            return Unary("-", inner)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        if self.peek().text == "[":
            if not isinstance(node, VectorSelector):
                raise self.error("ranges are only allowed on vector selectors (subqueries are not supported)")
            self.next()
            tok = self.next()
            if tok.kind not in ("duration", "number"):
                raise self.error(f"expected a duration like 5m, found {tok.text!r}", tok)
            if self.peek().text.startswith(":"):
                raise self.error("subqueries are not supported")
            self.expect("]")
            try:
                seconds = parse_duration(tok.text)
            except ValueError as err:
                raise self.error(str(err), tok) from None
            if seconds <= 0:
                raise self.error("range must be positive", tok)
            return MatrixSelector(node, round(seconds * 1000))
        if self.peek().kind == "ident" and self.peek().text in ("offset",):
            raise self.error("offset is not supported")
        return node

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind == "number":
            return NumberLiteral(
                float(int(tok.text, 16)) if tok.text.lower().startswith("0x") else float(tok.text)
            )
        if tok.text == "(":
            inner = self.expr(0)
            self.expect(")")
            return inner
        if tok.text == "{":
            self.i -= 1
            return self.selector(None)
        if tok.kind == "ident":
            word = tok.text
            if word in ("Inf", "inf", "NaN", "nan") and self.peek().text != "{":
                return NumberLiteral(float(word))
            if word in AGGREGATIONS and self.peek().text in ("(", "by", "without"):
                return self.aggregate(word)
            if self.peek().text == "(":
                if word not in FUNCTIONS:
                    raise self.error(f"function {word}() is not supported", tok)
                return self.call(word)
            if word in ("by", "without", "on", "ignoring", "bool", "and", "or", "unless", "offset"):
                raise self.error(f"unexpected keyword {word!r}", tok)
            return self.selector(word)
        raise self.error(f"unexpected {tok.text or 'end of input'!r}", tok)

    def label_list(self) -> tuple[str, ...]:
        self.expect("(")
        names: list[str] = []
        while self.peek().text != ")":
            tok = self.next()
            if tok.kind != "ident":
                raise self.error(f"expected a label name, found {tok.text!r}", tok)
            names.append(tok.text)
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != ")":
                raise self.error("expected ',' or ')' in label list")
        self.next()
        return tuple(names)

    def selector(self, name: str | None) -> Node:
        matchers: list[Matcher] = [Matcher.make(NAME, "=", name)] if name else []
        if self.peek().text == "{":
            self.next()
            while self.peek().text != "}":
                label = self.next()
                if label.kind != "ident":
                    raise self.error(f"expected a label name, found {label.text!r}", label)
                op = self.next()
                if op.text not in ("=", "!=", "=~", "!~"):
                    raise self.error(f"expected a label matcher operator, found {op.text!r}", op)
                value = self.next()
                if value.kind != "string":
                    raise self.error(f"expected a quoted label value, found {value.text!r}", value)
                matchers.append(Matcher.make(label.text, op.text, _unquote(value.text)))
                if self.peek().text == ",":
                    self.next()
                elif self.peek().text != "}":
                    raise self.error("expected ',' or '}' in label matchers")
            self.next()
        if not matchers:
            raise self.error("vector selector must contain at least one matcher")
        if not any(not m.matches("") for m in matchers):
            raise self.error("vector selector must contain at least one non-empty matcher")
        names = {m.value for m in matchers if m.name == NAME and m.op == "="}
        return VectorSelector(next(iter(names)) if len(names) == 1 else None, tuple(matchers))

    def call(self, func: str) -> Node:
        self.expect("(")
        args: list[Node] = []
        while self.peek().text != ")":
            args.append(self.expr(0))
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != ")":
                raise self.error(f"expected ',' or ')' in arguments of {func}()")
        self.next()
        kinds = FUNCTIONS[func]
        if len(args) != len(kinds):
            raise PromQLError(f"{func}() expects {len(kinds)} argument(s), got {len(args)} in {self.text!r}")
        for arg, kind in zip(args, kinds, strict=True):
            actual = "m" if isinstance(arg, MatrixSelector) else "s" if is_scalar(arg) else "v"
            if actual != kind:
                wanted = {"m": "a range vector", "s": "a scalar", "v": "an instant vector"}[kind]
                raise PromQLError(f"{func}() expects {wanted} argument in {self.text!r}")
        return Call(func, tuple(args))

    def aggregate(self, op: str) -> Node:
        grouping: tuple[str, ...] = ()
        without = False
        seen_grouping = False
        if self.peek().text in ("by", "without"):
            without = self.next().text == "without"
            grouping = self.label_list()
            seen_grouping = True
        self.expect("(")
        inner = self.expr(0)
        self.expect(")")
        if not seen_grouping and self.peek().text in ("by", "without"):
            without = self.next().text == "without"
            grouping = self.label_list()
        if is_scalar(inner) or isinstance(inner, MatrixSelector):
            raise PromQLError(f"{op}() expects an instant vector in {self.text!r}")
        return Aggregate(op, inner, grouping, without)


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


_PARSE_CACHE: dict[str, Node] = {}


def parse(text: str) -> Node:
    """Parse a PromQL expression of the supported subset; :class:`PromQLError` otherwise."""
    node = _PARSE_CACHE.get(text)
    if node is None:
        if not text.strip():
            raise PromQLError("empty expression")
        node = _PARSE_CACHE[text] = _Parser(text).parse()
    return node


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
Value = float | Vector


def _drop_name(labels: Labels) -> Labels:
    if labels and any(k == NAME for k, _ in labels):
        return tuple(p for p in labels if p[0] != NAME)
    return labels


def _arith(op: str, a: float, b: float) -> float:
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


def _compare(op: str, a: float, b: float) -> bool:
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
            return [(_drop_name(labels), -v) for labels, v in inner]
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
            return [(_drop_name(lb), v if math.isnan(v) else pick(v, bound)) for lb, v in vec]
        if func == "absent":
            vec = self._vector(node.args[0], t)
            return [] if vec else [(_absent_labels(node.args[0]), 1.0)]
        if func == "histogram_quantile":
            return _histogram_quantile(self._scalar(node.args[0], t), self._vector(node.args[1], t))
        arg = node.args[0]
        assert isinstance(arg, MatrixSelector)
        start, end = t - arg.range_ms, t
        series_list = self.storage.select(arg.vector.matchers)
        if func == "absent_over_time":
            for series in series_list:
                if series.rate_window(start, end) is not None:
                    return []
            return [(_absent_labels(arg.vector), 1.0)]
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
                    value = _irate(window)
                    if value is None:
                        continue
                else:
                    value = extrapolated_rate(window, start, end, range_s, is_rate=func == "rate")
                out.append((_drop_name(series.labels), value))
            return out
        reducer = _OVER_TIME[func]
        for series in series_list:
            _, values = series.samples(start, end)
            if values:
                out.append((_drop_name(series.labels), reducer(values)))
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
                return 1.0 if _compare(op, lhs, rhs) else 0.0
            return _arith(op, lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return self._vector_scalar(node, lhs, rhs)
        assert not isinstance(lhs, float) and not isinstance(rhs, float)
        if op in SET_OPS:
            return _set_op(node, lhs, rhs)
        return _vector_vector(node, lhs, rhs)

    @staticmethod
    def _vector_scalar(node: Node, lhs: Value, rhs: Value) -> Vector:
        assert isinstance(node, Binary)
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
                keep = _compare(op, a, b)
                if node.return_bool:
                    out.append((_drop_name(labels), 1.0 if keep else 0.0))
                elif keep:
                    out.append((labels, v))  # the vector's value, even when it is on the right
            else:
                out.append((_drop_name(labels), _arith(op, a, b)))
        return out


def _signature_fn(node: Binary) -> Callable[[Labels], Labels]:
    names = frozenset(node.labels)
    if node.on:
        return lambda labels: tuple(p for p in labels if p[0] in names)
    return lambda labels: tuple(p for p in labels if p[0] not in names and p[0] != NAME)


def _set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    sig = _signature_fn(node)
    if node.op == "and":
        right = {sig(lb) for lb, _ in rhs}
        return [s for s in lhs if sig(s[0]) in right]
    if node.op == "unless":
        right = {sig(lb) for lb, _ in rhs}
        return [s for s in lhs if sig(s[0]) not in right]
    left = {sig(lb) for lb, _ in lhs}
    return lhs + [s for s in rhs if sig(s[0]) not in left]


def _vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    sig = _signature_fn(node)
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
            keep = _compare(node.op, lv, rv)
            if node.return_bool:
                value = 1.0 if keep else 0.0
            elif not keep:
                continue
            else:
                value = lv
        else:
            value = _arith(node.op, lv, rv)
        result = labels if comparison and not node.return_bool else _drop_name(labels)
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


def _absent_labels(node: Node) -> Labels:
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


def _irate(window: RateWindow) -> float | None:
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


_OVER_TIME: dict[str, Callable[[Sequence[float]], float]] = {
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


def _histogram_quantile(q: float, vec: Vector) -> Vector:
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


def evaluate(node: Node | str, storage: Storage, t: int, lookback_ms: int = LOOKBACK_MS) -> Value:
    """Evaluate ``node`` at ``t`` (milliseconds since the epoch): a float or an instant vector."""
    return Evaluator(storage, lookback_ms).evaluate(node, t)
