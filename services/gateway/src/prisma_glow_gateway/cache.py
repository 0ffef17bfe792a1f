"""A small read-through cache: Redis when ``REDIS_URL`` is set, else this process.

Values are JSON. Every look-up counts in ``cache_requests_total{cache,result}`` (hit or
miss), which the cache-hit-rate alert reads. Writes invalidate the keys they change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

import glowops

_log = glowops.get_logger("prisma_glow_gateway.cache")


class Store(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def delete(self, key: str) -> None: ...


class LocalStore:
    """A bounded dict with expiry times."""

    def __init__(self, max_items: int = 10_000) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self.max_items = max_items

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if len(self._items) >= self.max_items:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (time.monotonic() + ttl_seconds, value)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


class RedisStore:
    def __init__(self, redis: Any, prefix: str = "glowops:cache:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._redis.get(self._prefix + key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class Cache:
    """``get_or_load`` with hit/miss metrics; a failing store degrades to a miss."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get_or_load(
        self, cache: str, key: str, load: Callable[[], Awaitable[Any]], ttl_seconds: float = 30.0
    ) -> Any:
        full_key = f"{cache}:{key}"
        try:
            raw = await self.store.get(full_key)
        except Exception as err:
            _log.warning("cache_unavailable", cache=cache, error=type(err).__name__)
            raw = None
        if raw is not None:
            glowops.metrics.counter("cache_requests", tags={"cache": cache, "result": "hit"})
            return orjson.loads(raw)
        glowops.metrics.counter("cache_requests", tags={"cache": cache, "result": "miss"})
        value = await load()
        try:
            await self.store.set(full_key, orjson.dumps(value), ttl_seconds)
        except Exception as err:
            _log.warning("cache_unavailable", cache=cache, error=type(err).__name__)
        return value

    async def invalidate(self, cache: str, key: str) -> None:
        try:
            await self.store.delete(f"{cache}:{key}")
        except Exception as err:
            _log.warning("cache_unavailable", cache=cache, error=type(err).__name__)
