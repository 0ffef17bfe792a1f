"""The data PromQL works on: label sets, samples, vectors, errors and the staleness marker."""

from __future__ import annotations

import struct
from collections.abc import Iterable

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, hashable
Sample = tuple[Labels, float]
Vector = list[Sample]
NAME = "__name__"
LOOKBACK_MS = 5 * 60 * 1000
Value = float | Vector  # what an expression evaluates to: a scalar or an instant vector


class PromQLError(ValueError):
    """A malformed expression, or one outside the supported subset."""


class EvaluationError(RuntimeError):
    """An expression that cannot be evaluated on the data (e.g. many-to-many matching)."""


def labels_of(mapping: dict[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Sorted label pairs, leaving out empty values (Prometheus treats ``""`` as absent)."""
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return tuple(sorted((k, v) for k, v in items if v != ""))


def label_value(labels: Labels, name: str) -> str:
    """The value of label ``name``; ``""`` when the set has no such label."""
    for key, value in labels:
        if key == name:
            return value
    return ""


def format_labels(labels: Labels) -> str:
    """``name{k="v", ...}``, the way Prometheus prints a series."""
    name = label_value(labels, NAME)
    inner = ", ".join(f'{k}="{v}"' for k, v in labels if k != NAME)
    return f"{name}{{{inner}}}"


def drop_name(labels: Labels) -> Labels:
    """The labels without ``__name__`` (functions and arithmetic drop the metric name)."""
    if labels and any(k == NAME for k, _ in labels):
        return tuple(p for p in labels if p[0] != NAME)
    return labels


# Prometheus' staleness marker: a NaN with a specific payload, distinct from an ordinary NaN.
STALE_BITS = 0x7FF0000000000002


def _make_stale() -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", STALE_BITS))[0]
    return value


STALE_NAN = _make_stale()
_STALE_BYTES = STALE_BITS.to_bytes(8, "little")


def is_stale(value: float) -> bool:
    """True for the staleness marker (ordinary NaN samples are values, not markers)."""
    if value == value:  # not NaN: the fast path
        return False
    return struct.pack("<d", value) == _STALE_BYTES
