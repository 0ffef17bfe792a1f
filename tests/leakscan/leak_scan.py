"""Reading a sink back: decode what it holds, then look for every planted secret in every spelling.

A sink's content becomes text views: protobuf decoded to JSON (OTLP), JSON walked to its keys
and strings (Sentry envelopes, webhook bodies), and each of those percent-decoded (with and
without ``+`` as a space, twice for double encoding) and HTML-unescaped. A secret is found
when its value, one of its cores (the part that must never leak, such as a card's digits) or
one of its client spellings appears in any view; digit secrets are also looked for with every
separator removed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from google.protobuf.json_format import MessageToJson
from leak_corpus import Secret
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_SEPARATORS = re.compile(r"[ .\-()+]")
_DIGIT_KINDS = ("ssn", "card_", "phone_")


@dataclass(frozen=True)
class Leak:
    sink: str
    kind: str
    needle: str
    context: str  # what surrounds the first hit, to find the channel that leaked


def json_strings(value: Any) -> Iterable[str]:
    """Every key and scalar of a JSON document, as text."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)
    elif value is not None:
        yield str(value)


def envelope_texts(body: bytes) -> list[str]:
    """A Sentry envelope: every line parsed as JSON where it is JSON, else kept as text."""
    out = [body.decode("utf-8", "replace")]
    for line in body.split(b"\n"):
        try:
            out.extend(json_strings(json.loads(line)))
        except ValueError:
            continue
    return out


def otlp_texts(body: bytes) -> list[str]:
    """An OTLP/HTTP protobuf request decoded to JSON (bytes fields as base64), walked."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    decoded = json.loads(MessageToJson(request))
    return [body.decode("latin-1"), *json_strings(decoded)]


def views(texts: Iterable[str]) -> list[str]:
    """The decoded views of a sink's texts (see the module docs), each one joined text."""
    joined = "\n".join(texts)
    once = unquote_plus(joined)
    return [
        joined,
        unquote(joined),
        once,
        unquote_plus(once),
        unquote(unquote(joined)),
        html.unescape(joined),
        unquote_plus(html.unescape(joined)),
        html.unescape(once),
    ]


def find_leaks(sink: str, texts: Iterable[str], secrets: list[Secret]) -> list[Leak]:
    """Every (secret kind, needle) of ``secrets`` found in the views of ``texts``."""
    decoded = views(texts)
    squeezed = [_SEPARATORS.sub("", view) for view in decoded[:3]]
    leaks: list[Leak] = []
    for secret in secrets:
        needles = {*secret.needles, *secret.spellings().values()}
        found = next(((n, view) for n in needles for view in decoded if n and n in view), None)
        if found is None and secret.kind.startswith(_DIGIT_KINDS):
            digits = _SEPARATORS.sub("", secret.value)
            found = next(((digits, view) for view in squeezed if digits in view), None)
        if found is not None:
            needle, view = found
            at = view.index(needle)
            leaks.append(Leak(sink, secret.kind, needle, view[max(0, at - 120) : at + len(needle) + 40]))
    return leaks


def missing(texts: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The ``wanted`` strings not found raw (byte for byte) in ``texts``."""
    joined = "\n".join(texts)
    return [item for item in wanted if item not in joined]
