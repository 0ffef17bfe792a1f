"""FastAPI dependencies: rate limit, authentication, org-scoped session, permissions.

The order matters and is the same on every API route: the rate limiter first (cheap, before
any database work), then the token, then a session scoped to the caller's organisation, then
the permission the route needs. Each refusal is answered with a problem and recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import glowops
from prisma_glow_gateway.clientaddr import client_address
from prisma_glow_gateway.models import RevokedToken, User
from prisma_glow_gateway.problems import Problem
from prisma_glow_gateway.ratelimit import retry_after_header
from prisma_glow_gateway.security import Principal, TokenError
from prisma_glow_gateway.state import Gateway

_BEARER = "bearer "


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "")) or "unmatched"


def client_of(request: Request) -> str:
    """The client's address (from ``X-Forwarded-For`` only behind a trusted proxy)."""
    peer = request.client.host if request.client else "unknown"
    trusted = gateway_of(request).trusted_proxies
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted) if trusted else peer


def _verified_user(request: Request, gateway: Gateway) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(_BEARER):
        return None
    try:
        return gateway.tokens.verify(header[len(_BEARER) :].strip()).user_id
    except TokenError:
        return None


async def rate_limit(request: Request) -> None:
    """Refuse with 429 when the client's bucket is empty.

    A client is the user of a valid token (users behind one NAT do not share a bucket), else
    its address: a made-up, expired or forged token never gets a bucket of its own.
    """
    gateway = gateway_of(request)
    if gateway.limiter is None:
        return
    user_id = _verified_user(request, gateway)
    client = f"u:{user_id}" if user_id else f"a:{client_of(request)}"
    wait = await gateway.limiter.hit(client)
    if wait is not None:
        glowops.metrics.counter("http_rate_limited", tags={"route": route_of(request)})
        raise Problem(
            429,
            "Too many requests from this client; retry after the Retry-After delay.",
            headers={"Retry-After": retry_after_header(wait)},
        )


async def _refuse_token(
    request: Request, reason: str, user_id: str | None = None, org_id: str | None = None
) -> Problem:
    gateway = gateway_of(request)
    client, route = client_of(request), route_of(request)
    await gateway.security.record(
        "auth_failed", reason, user_id=user_id, org_id=org_id, client=client, route=route
    )
    if reason == "forged_token":
        await gateway.security.record("suspicious_activity", "forged_token", client=client, route=route)
    messages = {
        "missing_token": "This endpoint needs Authorization: Bearer <token> from POST /auth/login.",
        "expired_token": "The token has expired; log in again.",
        "forged_token": "The token signature is not valid.",
        "malformed_token": "The token is not a valid login token.",
        "unknown_user": "The token's user no longer exists or is disabled.",
        "revoked_token": "The token was revoked (logged out); log in again.",
    }
    return Problem(401, messages[reason], headers={"WWW-Authenticate": 'Bearer realm="prisma-glow"'})


async def principal(request: Request) -> Principal:
    """The caller of a verified, unexpired token (401 and a security event otherwise)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(_BEARER) or not header[len(_BEARER) :].strip():
        raise await _refuse_token(request, "missing_token")
    try:
        caller = gateway_of(request).tokens.verify(header[len(_BEARER) :].strip())
    except TokenError as err:
        raise await _refuse_token(request, err.reason) from None
    request.state.principal = caller
    glowops.bind_context(user_id=caller.user_id, org_id=caller.org_id)
    return caller


@dataclass
class Ctx:
    """An authenticated request: who calls, their org-scoped session, the gateway."""

    principal: Principal
    session: AsyncSession
    gateway: Gateway
    request: Request

    @property
    def org_id(self) -> str:
        return self.principal.org_id

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    async def cross_org_check(self, model: type[Any], row_id: str) -> None:
        """After an org-scoped look-up found nothing: was it another organisation's row?

        The answer stays 404 either way (existence is not disclosed), but touching another
        organisation's data is recorded as a row-level-security denial on that table.
        """
        table = model.__table__
        async with self.gateway.db.system() as session:
            found = await session.execute(select(table.c.id).where(table.c.id == row_id))
            exists = found.first() is not None
        if exists:
            await self.gateway.security.record(
                "rls_denied",
                model.__tablename__,
                org_id=self.org_id,
                user_id=self.user_id,
                client=client_of(self.request),
                route=route_of(self.request),
                detail={"row_id": row_id},
            )

    async def get(self, model: type[Any], row_id: str, what: str) -> Any:
        """The org's row with this id, else 404 (and a recorded denial if it is another org's)."""
        row = await self.session.scalar(select(model).where(model.id == row_id, model.org_id == self.org_id))
        if row is None:
            await self.cross_org_check(model, row_id)
            raise Problem(404, f"No {what} with id {row_id} in your organisation.")
        return row


async def context(request: Request, token: Principal = Depends(principal)) -> AsyncIterator[Ctx]:
    """The request context of a current user: the token's user must exist, be active and the
    token must not be revoked; the role is the one in the database now, not the token's."""
    gateway = gateway_of(request)
    async with gateway.db.scoped(token.org_id) as session:
        user = await session.scalar(select(User).where(User.id == token.user_id, User.org_id == token.org_id))
        if user is None or not user.active:
            await session.rollback()
            raise await _refuse_token(request, "unknown_user", user_id=token.user_id, org_id=token.org_id)
        if await session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == token.token_id)):
            await session.rollback()
            raise await _refuse_token(request, "revoked_token", user_id=token.user_id, org_id=token.org_id)
        caller = replace(token, role=user.role)
        request.state.principal = caller
        yield Ctx(principal=caller, session=session, gateway=gateway, request=request)


def require(permission: str) -> Callable[..., Awaitable[Ctx]]:
    """A dependency giving the request context when the caller's role holds ``permission``."""

    async def check(ctx: Ctx = Depends(context)) -> Ctx:
        if not ctx.principal.can(permission):
            await ctx.gateway.security.record(
                "permission_denied",
                permission,
                org_id=ctx.org_id,
                user_id=ctx.user_id,
                client=client_of(ctx.request),
                route=route_of(ctx.request),
                detail={"role": ctx.principal.role},
            )
            raise Problem(403, f"Your role ({ctx.principal.role}) may not do {permission}.")
        return ctx

    return check
