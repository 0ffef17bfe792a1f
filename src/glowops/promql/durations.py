"""Prometheus duration strings (``5m``, ``1h30m``, ``250ms``): parse, format and scale.

The rule catalog, the exported configuration and the embedded engine all speak these; the
time-scaled drill export divides them by a factor.
"""

from __future__ import annotations

import re

_UNITS: tuple[tuple[str, float], ...] = (
    ("y", 365 * 86400.0),
    ("w", 7 * 86400.0),
    ("d", 86400.0),
    ("h", 3600.0),
    ("m", 60.0),
    ("s", 1.0),
    ("ms", 0.001),
)
_PATTERN = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?"
    r"(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``5m`` or ``1h30m``; ``0`` and ``0s`` are zero.

    >>> parse_duration("1h30m")
    5400.0
    """
    text = text.strip()
    if text == "0":
        return 0.0
    match = _PATTERN.match(text)
    if not text or match is None or not any(match.groupdict().values()):
        raise ValueError(f"not a Prometheus duration: {text!r} (examples: 30s, 5m, 1h30m, 250ms)")
    return sum(float(match.group(unit)) * size for unit, size in _UNITS if match.group(unit))


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (rounded to whole milliseconds).

    >>> format_duration(4320.0)
    '1h12m'
    """
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts = []
    # Weeks and years are legal but read badly; days are the largest unit we write.
    for unit, size in _UNITS[2:]:
        size_ms = round(size * 1000)
        count, millis = divmod(millis, size_ms)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def scale_duration(text: str, factor: float) -> str:
    """``text`` divided by ``factor`` (the drill export shrinks every window and ``for``)."""
    if factor <= 0:
        raise ValueError(f"time scale must be positive, got {factor}")
    return format_duration(parse_duration(text) / factor)
