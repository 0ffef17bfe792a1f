"""The decoded pass: secrets spelled with percent-encoding, ``+`` or HTML entities.

``jane.doe%2Baudit%40example.com``, ``%2B1%20415%20555%200123``, ``4111+1111+1111+1111`` and
``jane&#64;example.com`` hide from detectors that read the text as it is. After the plain pass,
each whitespace-free token holding such an encoding is decoded (percent-encoding up to three
times, ``+`` as a space, HTML entities) and scanned again. When a decoding holds something the
detectors mask, the token is masked *in place*: only the segments between URL delimiters
(``&``, ``=``, ``?``, ``/``...) that hold it are replaced by their scrubbed, re-encoded text, so
``email=jane.doe%2Baudit%40x.com&page=2`` becomes ``email=***REDACTED***&page=2``. A secret
that only a whole token reveals (an encoded ``pass%77ord=...``) masks the whole token.

The output holds no decoding that a detector still flags, so a second pass changes nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import quote, unquote, unquote_plus

#: An encoding worth decoding: ``%XX``, an HTML entity, or ``+`` between letters or digits.
ENCODED = re.compile(
    r"%[0-9A-Fa-f]{2}|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,9});"
    r"|(?<=[A-Za-z0-9])\+(?=[A-Za-z0-9%])"
)
#: Tokens: runs without whitespace, quotes or markup brackets.
_TOKEN = re.compile(r"""[^\s"'<>]+""")
#: Segments: runs between URL delimiters; an entity (``&#64;``) or ``%XX`` belongs to its segment.
_SEGMENT = re.compile(r"(?:&#?[A-Za-z0-9]{1,10};|[^&;?#/=,])+")
#: Characters kept as they are when a scrubbed segment is re-encoded (the mask, pseudonyms).
_SAFE_CHARS = "*:@!$'()~"
_ROUNDS = 3


def decodings(text: str) -> list[str]:
    """The distinct decoded spellings of ``text`` (percent, ``+``, entities; nested up to 3 deep)."""
    seen = {text}
    found: list[str] = []
    frontier = [text]
    for _ in range(_ROUNDS):
        following: list[str] = []
        for value in frontier:
            for decoded in (unquote(value), unquote_plus(value), html.unescape(value)):
                if decoded not in seen:
                    seen.add(decoded)
                    found.append(decoded)
                    following.append(decoded)
        if not following:
            break
        frontier = following
    return found


def _flagged(text: str, scrub: Callable[[str], str]) -> str | None:
    """The scrubbed form of the first decoding of ``text`` that the detectors change, else None."""
    for decoded in decodings(text):
        scrubbed = scrub(decoded)
        if scrubbed != decoded:
            return scrubbed
    return None


def _encode(scrubbed: str) -> str:
    return quote(scrubbed, safe=_SAFE_CHARS)


def scrub_token(token: str, scrub: Callable[[str], str]) -> str:
    """``token`` with the segments whose decoding holds a secret masked (see the module docs)."""
    if _flagged(token, scrub) is None:
        return token
    out: list[str] = []
    done = 0
    for segment in _SEGMENT.finditer(token):
        text = segment.group(0)
        if not ENCODED.search(text):
            continue
        scrubbed = _flagged(text, scrub)
        if scrubbed is None:
            continue
        out.append(token[done : segment.start()])
        out.append(_encode(scrubbed))
        done = segment.end()
    if out:
        out.append(token[done:])
        masked = "".join(out)
        if _flagged(masked, scrub) is None:
            return masked
    # Only the token as a whole shows the secret (an encoded name, an encoded delimiter).
    whole = _flagged(token, scrub)
    return _encode(whole) if whole is not None else token


def scrub_decoded(text: str, scrub: Callable[[str], str]) -> str:
    """``text`` with every encoded token whose decoding holds a secret masked in place."""
    if ENCODED.search(text) is None:
        return text
    out: list[str] = []
    done = 0
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if ENCODED.search(token) is None:
            continue
        new = scrub_token(token, scrub)
        if new != token:
            out.append(text[done : match.start()])
            out.append(new)
            done = match.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)
