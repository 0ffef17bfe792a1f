"""Sealed values of a series: chunks of :data:`CHUNK` doubles, compressed, read back on demand.

A series keeps its newest values in a plain ``array('d')`` (the rule engine reads them at array
speed); older values, once persisted, are sealed here. Each chunk is the chunk's 8-byte doubles
regrouped by byte position (all first bytes, then all second bytes, ...) and deflated: the sign,
exponent and high mantissa bytes of neighbouring samples are nearly always equal, and integer
counts (counters, histogram buckets) have all-zero low mantissa bytes, so a chunk of a typical
gateway series shrinks to about one byte a sample. Chunks of whole numbers (counters, histogram
buckets: most of a gateway's series) keep the differences between neighbours instead, which
shrinks them to about 0.6 byte a sample. Lossless: every double, NaN payloads (absent
and stale markers) included, comes back bit for bit.

Chunk ``k`` holds positions ``start + k * CHUNK`` onwards. Reading a sealed value decodes its chunk
(~10 µs); the last two chunks read are kept decoded,
since a rule with a long window reads the same chunk at every evaluation until its window moves
past it.
"""

from __future__ import annotations

import math
import zlib
from array import array
from itertools import accumulate, pairwise

__all__ = ["CHUNK", "SealedValues", "decode", "encode"]

CHUNK = 120  # values per sealed chunk (30 minutes at a 15 s scrape)
_WIDTH = 8
_CACHED = 2
_EXACT = 2.0**53  # integers up to this size are exact doubles
_FLOATS, _INTS = b"f", b"i"  # the first byte of a chunk: how the rest is encoded


def _shuffled(raw: bytes) -> bytes:
    return b"".join(raw[k::_WIDTH] for k in range(_WIDTH))


def _unshuffled(planes: bytes) -> bytearray:
    n = len(planes) // _WIDTH
    raw = bytearray(len(planes))
    for k in range(_WIDTH):
        raw[k::_WIDTH] = planes[k * n : (k + 1) * n]
    return raw


def _whole_numbers(values: array[float]) -> bool:
    """Every value an integer that a double holds exactly, none of them -0.0 (lost as an int)."""
    for v in values:
        if not (-_EXACT < v < _EXACT) or v != int(v) or (v == 0 and math.copysign(1.0, v) < 0):
            return False
    return True


def encode(values: array[float]) -> bytes:
    """``values`` as one compressed chunk.

    Whole numbers (counts: counters, histogram buckets) are kept as differences between
    neighbours, 64-bit integers; other values as the doubles themselves. Either way the 8-byte
    words are regrouped by byte position before deflate.
    """
    if _whole_numbers(values):
        ints = [int(v) for v in values]
        deltas = array("q", [ints[0], *(b - a for a, b in pairwise(ints))])
        return _INTS + zlib.compress(_shuffled(deltas.tobytes()), 6, wbits=-15)
    return _FLOATS + zlib.compress(_shuffled(values.tobytes()), 6, wbits=-15)


def decode(chunk: bytes) -> array[float]:
    """The doubles of a chunk written by :func:`encode`."""
    raw = _unshuffled(zlib.decompress(chunk[1:], wbits=-15))
    if chunk[:1] == _INTS:
        deltas = array("q")
        deltas.frombytes(raw)
        return array("d", accumulate(deltas))
    out = array("d")
    out.frombytes(raw)
    return out


class SealedValues:
    """Consecutive sealed chunks of one series, from absolute position ``start``; the first
    ``skip`` values of the first chunk were dropped by retention."""

    __slots__ = ("_decoded", "chunks", "skip", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.skip = 0
        self.chunks: list[bytes] = []
        self._decoded: dict[int, array[float]] = {}  # chunk index (absolute) -> values

    @property
    def first(self) -> int:
        return self.start + self.skip

    @property
    def end(self) -> int:
        return self.start + CHUNK * len(self.chunks)

    def __len__(self) -> int:
        return CHUNK * len(self.chunks) - self.skip

    def nbytes(self) -> int:
        """Bytes of the compressed chunks (what a sealed sample costs)."""
        return sum(len(c) for c in self.chunks)

    def seal(self, values: array[float]) -> None:
        """Append one chunk of exactly :data:`CHUNK` values."""
        if len(values) != CHUNK:
            raise ValueError(f"a sealed chunk holds {CHUNK} values, got {len(values)}")
        self.chunks.append(encode(values))

    def _chunk(self, k: int) -> array[float]:
        """The decoded chunk ``k`` (0 is the chunk at ``start``)."""
        key = self.start + k * CHUNK  # stays the same when older chunks are dropped
        found = self._decoded.get(key)
        if found is None:
            found = decode(self.chunks[k])
            if len(self._decoded) >= _CACHED:
                del self._decoded[next(iter(self._decoded))]
            self._decoded[key] = found
        return found

    def value(self, pos: int) -> float:
        """The value at absolute position ``pos`` (``first <= pos < end``)."""
        k, offset = divmod(pos - self.start, CHUNK)
        return self._chunk(k)[offset]

    def slice(self, lo: int, hi: int) -> array[float]:
        """Values at positions ``[lo, hi)`` (within ``[first, end)``)."""
        out = array("d")
        pos = lo
        while pos < hi:
            k, offset = divmod(pos - self.start, CHUNK)
            take = min(CHUNK - offset, hi - pos)
            out.extend(self._chunk(k)[offset : offset + take])
            pos += take
        return out

    def drop_before(self, pos: int) -> None:
        """Forget values before ``pos`` (whole chunks are freed)."""
        whole = min((pos - self.start) // CHUNK, len(self.chunks))
        if whole > 0:
            del self.chunks[:whole]
            self.start += whole * CHUNK
            self._decoded = {key: v for key, v in self._decoded.items() if key >= self.start}
            self.skip = 0
        self.skip = max(self.skip, min(pos, self.end) - self.start)
