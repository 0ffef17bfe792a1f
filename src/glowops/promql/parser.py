"""The PromQL parser: text to :mod:`glowops.promql.ast` nodes, with Prometheus' error rules."""

from __future__ import annotations

from glowops.promql.ast import (
    AGGREGATIONS,
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
    is_scalar,
)
from glowops.promql.durations import parse_duration
from glowops.promql.functions import FUNCTIONS
from glowops.promql.lexer import Token, lex, unquote
from glowops.promql.model import NAME, PromQLError
from glowops.promql.storage import Matcher

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


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = lex(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> PromQLError:
        tok = tok or self.peek()
        return PromQLError(f"{message} at position {tok.pos} in {self.text!r}")

    def expect(self, text: str) -> Token:
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
                matchers.append(Matcher.make(label.text, op.text, unquote(value.text)))
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


_PARSE_CACHE: dict[str, Node] = {}


def parse(text: str) -> Node:
    """Parse a PromQL expression of the supported subset; :class:`PromQLError` otherwise."""
    node = _PARSE_CACHE.get(text)
    if node is None:
        if not text.strip():
            raise PromQLError("empty expression")
        node = _PARSE_CACHE[text] = _Parser(text).parse()
    return node
