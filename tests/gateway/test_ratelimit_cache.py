"""Rate limiting (in-process and Redis-shared) and the cache (Redis and in-process)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from gateway_helpers import Delta, running_gateway, settings_for

from prisma_glow_gateway.cache import Cache, LocalStore, RedisStore
from prisma_glow_gateway.ratelimit import LocalRateLimiter


def test_token_bucket_refills_at_the_configured_rate() -> None:
    limiter = LocalRateLimiter(per_minute=60)  # one token per second, bursts of 60
    assert all(limiter.take("c", now=0.0) is None for _ in range(60))
    wait = limiter.take("c", now=0.0)
    assert wait == pytest.approx(1.0)
    assert limiter.take("other", now=0.0) is None  # buckets are per client
    assert limiter.take("c", now=1.01) is None and limiter.take("c", now=1.01) is not None


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_client_over_the_limit_gets_429_with_retry_after(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    extra = {"redis_url": request.getfixturevalue("redis_url")} if backend == "redis" else {}
    settings = settings_for("sqlite", tmp_path, rate_limit_per_minute=3, **extra)
    with running_gateway(settings, "sqlite", seed=False) as gw:
        with Delta() as d:
            statuses = [gw.client.get("/auth/me").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        limited = gw.client.get("/auth/me")
        assert limited.status_code == 429 and limited.headers["content-type"] == "application/problem+json"
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        assert d("http_rate_limited_total", route="/auth/me") == 2  # both refused requests
        # A made-up bearer token is no other client: it shares the address' empty bucket.
        assert gw.client.get("/auth/me", headers={"Authorization": "Bearer other"}).status_code == 429


def test_redis_limit_is_shared_between_gateways(tmp_path: Path, redis_url: str) -> None:
    settings = settings_for("sqlite", tmp_path, rate_limit_per_minute=4, redis_url=redis_url)
    with (
        running_gateway(settings, "sqlite", seed=False) as first,
        running_gateway(settings, "sqlite", seed=False) as second,
    ):
        codes = [gw.client.get("/auth/me").status_code for gw in (first, second, first, second, first)]
    assert codes == [401, 401, 401, 401, 429]


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_cache_counts_hits_and_misses(backend: str, request: pytest.FixtureRequest) -> None:
    async def scenario() -> list[int]:
        if backend == "redis":
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
            cache = Cache(RedisStore(client))
        else:
            cache = Cache(LocalStore())
        loads: list[int] = []

        async def load() -> dict[str, int]:
            loads.append(1)
            return {"n": len(loads)}

        values = [await cache.get_or_load("test_cache", "k", load) for _ in range(3)]
        await cache.invalidate("test_cache", "k")
        values.append(await cache.get_or_load("test_cache", "k", load))
        if backend == "redis":
            await client.aclose()
        return [v["n"] for v in values]

    with Delta() as d:
        assert anyio.run(scenario) == [1, 1, 1, 2]
    assert d("cache_requests_total", cache="test_cache", result="hit") == 2
    assert d("cache_requests_total", cache="test_cache", result="miss") == 2


def test_cache_with_redis_down_degrades_to_misses(tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    async def scenario() -> int:
        client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        cache = Cache(RedisStore(client))
        try:
            value: int = await cache.get_or_load("test_cache_down", "k", _forty_two)
            return value
        finally:
            await client.aclose()

    with Delta() as d:
        assert anyio.run(scenario) == 42
    assert d("cache_requests_total", cache="test_cache_down", result="miss") == 1


async def _forty_two() -> int:
    return 42
