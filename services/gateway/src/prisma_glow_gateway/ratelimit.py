"""Per-client rate limiting: a token bucket per client, in-process or shared through Redis.

Each client may make ``rate_limit_per_minute`` requests in a burst and regains one request
every ``60 / rate_limit_per_minute`` seconds. A refused request gets 429 with ``Retry-After``
(whole seconds) and counts in ``http_rate_limited_total{route}``. With Redis the bucket lives
in one hash per client, updated by a Lua script with Redis' own clock, so every gateway
replica shares it; if Redis cannot be reached the local bucket answers instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import glowops

_log = glowops.get_logger("prisma_glow_gateway.ratelimit")


class RateLimiter(Protocol):
    async def hit(self, client: str) -> float | None:
        """Take one request from ``client``'s bucket; seconds to wait when it is empty."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class LocalRateLimiter:
    """Token buckets in this process (the embedded default).

    Bound: the clients seen within one refill time (a minute), at most ``max_clients``. A bucket
    idle for a whole refill time is full again, the same as no bucket, so it is dropped; without
    that, every token ever seen (one per log-in) kept a bucket until the cap.
    """

    def __init__(self, per_minute: int, max_clients: int = 50_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self.refill_seconds = self.capacity / self.rate if self.rate else 60.0
        self._buckets: dict[str, _Bucket] = {}
        self._next_sweep = 0.0

    async def hit(self, client: str) -> float | None:
        return self.take(client, time.monotonic())

    def _sweep(self, now: float) -> None:
        idle = [key for key, b in self._buckets.items() if now - b.updated >= self.refill_seconds]
        for key in idle:
            del self._buckets[key]
        self._next_sweep = now + self.refill_seconds / 4

    def take(self, client: str, now: float) -> float | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            if now >= self._next_sweep:
                self._sweep(now)
            if len(self._buckets) >= self.max_clients:
                self._buckets.pop(next(iter(self._buckets)))
            bucket = self._buckets[client] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate


_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


class RedisRateLimiter:
    """Token buckets shared by every replica through Redis."""

    def __init__(self, redis: Any, per_minute: int, prefix: str = "glowops:ratelimit:") -> None:
        self._redis = redis
        self._script = redis.register_script(_BUCKET_SCRIPT)
        self._prefix = prefix
        self._args = [per_minute, per_minute / 60.0]
        self._fallback = LocalRateLimiter(per_minute)
        self._warned = False

    async def hit(self, client: str) -> float | None:
        try:
            wait = float(await self._script(keys=[self._prefix + client], args=self._args))
        except Exception as err:  # Redis down: keep limiting, locally
            if not self._warned:
                _log.warning("rate_limit_redis_unavailable", error=type(err).__name__)
                self._warned = True
            return await self._fallback.hit(client)
        self._warned = False
        return wait if wait > 0 else None


def retry_after_header(wait_seconds: float) -> str:
    return str(max(1, math.ceil(wait_seconds)))
