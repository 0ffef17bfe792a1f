"""The PromQL tokenizer: numbers, durations, identifiers, quoted strings and operators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from glowops.promql.model import PromQLError

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


def unquote(text: str) -> str:
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
class Token:
    kind: str
    text: str
    pos: int


def lex(text: str) -> list[Token]:
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
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens
