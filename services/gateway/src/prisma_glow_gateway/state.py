"""What one gateway instance holds: settings, database, token service, limiter, cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import glowops
from prisma_glow_gateway.cache import Cache, LocalStore, RedisStore
from prisma_glow_gateway.db import Database
from prisma_glow_gateway.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from prisma_glow_gateway.security import FailureWindow, SecurityAudit, TokenService, signing_key
from prisma_glow_gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from prisma_glow_gateway.assistant.responders import Responder


@dataclass
class Gateway:
    settings: GatewaySettings
    db: Database
    tokens: TokenService
    security: SecurityAudit
    cache: Cache
    limiter: RateLimiter | None
    storage_dir: Path
    responder: Responder
    redis: Any = None
    # Five failed logins within five minutes for one account or one client is suspicious.
    login_failures: FailureWindow = field(default_factory=FailureWindow)

    @classmethod
    def build(cls, settings: GatewaySettings) -> Gateway:
        from prisma_glow_gateway.assistant.responders import build_responder

        db = Database(settings)
        redis = None
        if settings.redis_url:
            import redis.asyncio as aioredis

            redis = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=settings.redis_timeout_seconds,
                socket_connect_timeout=settings.redis_timeout_seconds,
            )
        limiter: RateLimiter | None = None
        if settings.rate_limit_per_minute > 0:
            limiter = (
                RedisRateLimiter(redis, settings.rate_limit_per_minute)
                if redis is not None
                else LocalRateLimiter(settings.rate_limit_per_minute)
            )
        storage = Path(settings.state_dir) / "documents"
        storage.mkdir(parents=True, exist_ok=True)
        responder = build_responder(settings)
        http = (responder.http_client,) if responder.http_client is not None else ()
        glowops.instrument_clients(settings, engine=db.engine, redis=redis, http_clients=http)
        return cls(
            settings=settings,
            db=db,
            tokens=TokenService(signing_key(settings), settings.token_ttl_seconds),
            security=SecurityAudit(db),
            cache=Cache(RedisStore(redis) if redis is not None else LocalStore()),
            limiter=limiter,
            storage_dir=storage,
            responder=responder,
            redis=redis,
        )

    async def close(self) -> None:
        await self.responder.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
