"""Login, the caller's identity, MFA enrolment, user management and ops seeding."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import glowops
from prisma_glow_gateway import mfa
from prisma_glow_gateway.deps import Ctx, client_of, context, gateway_of, rate_limit, require, route_of
from prisma_glow_gateway.models import Org, RevokedToken, User, utcnow
from prisma_glow_gateway.problems import Problem
from prisma_glow_gateway.ratelimit import retry_after_header
from prisma_glow_gateway.security import ROLES, hash_password, verify_password

router = APIRouter(tags=["auth"], dependencies=[Depends(rate_limit)])

Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Field(min_length=8, max_length=256)]
RoleName = Annotated[str, Field(pattern="^(" + "|".join(ROLES) + ")$")]
_log = glowops.get_logger("prisma_glow_gateway.auth")


class LoginIn(BaseModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=256)]


class UserIn(BaseModel):
    email: Email
    password: Password
    role: RoleName


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "org_id": user.org_id,
        "email": user.email,
        "role": user.role,
        "active": user.active,
    }


@router.post("/auth/login")
async def login(body: LoginIn, request: Request) -> dict[str, Any]:
    """Exchange e-mail and password for a bearer token.

    After repeated failures the account (and, for many failures, the address) backs off: the
    login is refused with 429 and ``Retry-After`` before the password is even checked.
    """
    gateway = gateway_of(request)
    email = body.email.lower()
    client, route, now = client_of(request), route_of(request), gateway.clock()
    wait, held_by = await gateway.login_guard.wait(email, client, now)
    if wait > 0:
        await gateway.security.record(
            "auth_failed", "login_locked", client=client, route=route, detail={"key": held_by}
        )
        raise Problem(
            429,
            "Too many failed logins; retry after the Retry-After delay.",
            headers={"Retry-After": retry_after_header(wait)},
            error_type="login_locked",
        )
    async with gateway.db.system() as session:
        user = await session.scalar(select(User).where(User.email == email))
    # Verified even for unknown users (against a dummy hash): the timing does not tell them apart.
    # Argon2 takes ~0.1 s of CPU: off the event loop, so other requests keep flowing.
    ok = await anyio.to_thread.run_sync(verify_password, user.password_hash if user else None, body.password)
    if user is None or not ok or not user.active:
        reason = "unknown_user" if user is None else ("bad_password" if not ok else "disabled_user")
        await gateway.login_guard.failed(email, client, now)
        await gateway.security.record(
            "auth_failed",
            reason,
            org_id=user.org_id if user else None,
            user_id=user.id if user else None,
            client=client,
            route=route,
        )
        for key in (f"account:{email}", f"client:{client}"):
            if gateway.login_failures.add(key):
                await gateway.security.record(
                    "suspicious_activity",
                    "repeated_failed_logins",
                    org_id=user.org_id if user else None,
                    client=client,
                    route=route,
                    detail={"key": key.split(":", 1)[0]},
                )
        raise Problem(
            401, "E-mail or password is wrong.", headers={"WWW-Authenticate": 'Bearer realm="prisma-glow"'}
        )
    await gateway.login_guard.succeeded(email)
    token = gateway.tokens.issue(user.id, user.org_id, user.role)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": gateway.tokens.ttl_seconds,
        "user": user_out(user),
    }


@router.post("/auth/logout", status_code=204)
async def logout(ctx: Ctx = Depends(context)) -> Response:
    """Revoke the token of this request: it is refused from now on, until it would have expired."""
    expires = datetime.fromtimestamp(ctx.principal.expires_at, UTC)
    ctx.session.add(RevokedToken(jti=ctx.principal.token_id, user_id=ctx.user_id, expires_at=expires))
    # Expired entries are useless (an expired token is refused anyway): the list stays small.
    await ctx.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    await ctx.session.commit()
    return Response(status_code=204)


@router.get("/auth/me")
async def me(ctx: Ctx = Depends(context)) -> dict[str, Any]:
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None  # context() checked it
    return user_out(user)


# --- MFA ---------------------------------------------------------------------------------------
class MfaCodeIn(BaseModel):
    code: Annotated[str, Field(pattern=r"^\d{6}$")]


class MfaEnrolIn(BaseModel):
    code: Annotated[str | None, Field(pattern=r"^\d{6}$")] = None


def _mfa_status(user: User) -> dict[str, Any]:
    return {
        "enrolled": user.mfa_enrolled_at is not None,
        "enrolled_at": user.mfa_enrolled_at.isoformat() if user.mfa_enrolled_at else None,
        "pending": user.mfa_pending_secret is not None,
        "issuer": mfa.ISSUER,
        "digits": mfa.DIGITS,
        "period_seconds": mfa.PERIOD_SECONDS,
    }


@router.get("/auth/mfa")
async def mfa_state(ctx: Ctx = Depends(context)) -> dict[str, Any]:
    """Whether the caller has MFA enrolled (the secret itself is shown once, at enrolment)."""
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None
    return _mfa_status(user)


@router.post("/auth/mfa/enrol", status_code=201)
async def mfa_enrol(body: MfaEnrolIn, ctx: Ctx = Depends(context)) -> Response:
    """Start (re-)enrolment: a new TOTP secret and its ``otpauth://`` URI, shown this once.

    The secret becomes the caller's second factor after ``POST /auth/mfa/confirm`` with its
    first code. Replacing an enrolled factor needs a current code of it (or an admin's reset).
    """
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None
    if user.mfa_enrolled_at is not None:
        if body.code is None:
            raise await mfa.refusal(ctx, "mfa_missing", {"action": "reenrol"})
        check = await mfa.use_code(ctx.session, user.id, user.mfa_secret, body.code, ctx.gateway.clock())
        if check != "ok":
            await ctx.session.commit()
            raise await mfa.refusal(ctx, check, {"action": "reenrol"})
    secret = mfa.new_secret()
    user.mfa_pending_secret = secret
    await ctx.session.commit()
    payload = {
        **_mfa_status(user),
        "secret": secret,
        "provisioning_uri": mfa.provisioning_uri(secret, user.email),
    }
    # The secret must not stay in a cache on the way.
    return Response(
        orjson.dumps(payload),
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/auth/mfa/confirm")
async def mfa_confirm(body: MfaCodeIn, ctx: Ctx = Depends(context)) -> dict[str, Any]:
    """Finish enrolment with the first code of the new secret: from now on it is the second factor."""
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None
    pending = user.mfa_pending_secret
    if pending is None:
        raise Problem(409, "There is no enrolment to confirm: POST /auth/mfa/enrol first.")
    check = await mfa.use_code(ctx.session, user.id, pending, body.code, ctx.gateway.clock())
    if check != "ok":
        await ctx.session.commit()
        raise await mfa.refusal(ctx, check, {"action": "confirm"})
    reenrolled = user.mfa_enrolled_at is not None
    await ctx.session.refresh(user)
    user.mfa_secret, user.mfa_pending_secret, user.mfa_enrolled_at = pending, None, utcnow()
    await ctx.session.commit()
    if reenrolled:
        await ctx.gateway.security.record(
            "suspicious_activity",
            "mfa_reenrolled",
            org_id=ctx.org_id,
            user_id=ctx.user_id,
            client=client_of(ctx.request),
            route=route_of(ctx.request),
        )
    else:
        _log.info("mfa_enrolled", user_id=user.id)
    return _mfa_status(user)


@router.post("/users/{user_id}/mfa/reset")
async def mfa_reset(user_id: str, ctx: Ctx = Depends(require("users:manage"))) -> dict[str, Any]:
    """An admin ends a user's enrolment (a lost phone): the user enrols again from scratch."""
    user: User = await ctx.get(User, user_id, "user")
    user.mfa_enrolled_at, user.mfa_pending_secret = None, None
    await ctx.session.commit()
    await ctx.gateway.security.record(
        "suspicious_activity",
        "mfa_reset",
        org_id=ctx.org_id,
        user_id=ctx.user_id,
        client=client_of(ctx.request),
        route=route_of(ctx.request),
        detail={"target_user_id": user_id},
    )
    return _mfa_status(user)


# --- users -------------------------------------------------------------------------------------
@router.post("/users", status_code=201)
async def create_user(body: UserIn, ctx: Ctx = Depends(require("users:manage"))) -> dict[str, Any]:
    """Add a user to the caller's organisation (admins only); 409 when the e-mail is taken."""
    user = User(
        org_id=ctx.org_id,
        email=body.email.lower(),
        password_hash=await anyio.to_thread.run_sync(hash_password, body.password),
        role=body.role,
        mfa_secret=mfa.new_secret(),
        active=True,
    )
    ctx.session.add(user)
    # The unique index decides (the e-mail may be taken in another organisation, which this
    # org-scoped session cannot see, or by a request running at the same time).
    try:
        await ctx.session.commit()
    except IntegrityError:
        await ctx.session.rollback()
        raise Problem(409, "A user with this e-mail already exists.", error_type="email_taken") from None
    return user_out(user)


class UserPatch(BaseModel):
    role: RoleName | None = None
    active: bool | None = None


@router.patch("/users/{user_id}")
async def update_user(
    user_id: str, body: UserPatch, ctx: Ctx = Depends(require("users:manage"))
) -> dict[str, Any]:
    """Change a user's role or deactivate them; takes effect on their very next request."""
    user: User = await ctx.get(User, user_id, "user")
    if body.role is not None:
        user.role = body.role
    if body.active is not None:
        user.active = body.active
    await ctx.session.commit()
    _log.info("user_updated", target_user_id=user.id, role=user.role, active=user.active)
    return user_out(user)


@router.get("/users")
async def list_users(ctx: Ctx = Depends(require("users:manage"))) -> list[dict[str, Any]]:
    users = (
        await ctx.session.scalars(select(User).where(User.org_id == ctx.org_id).order_by(User.email))
    ).all()
    return [user_out(user) for user in users]


# --- ops seeding -------------------------------------------------------------------------------
class SeedUser(BaseModel):
    email: Email
    password: Password
    role: RoleName


class SeedOrg(BaseModel):
    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    users: list[SeedUser] = Field(default_factory=list, max_length=100)


class BootstrapIn(BaseModel):
    orgs: list[SeedOrg] = Field(min_length=1, max_length=20)


def _has_ops_token(request: Request) -> bool:
    """The request carries the ops token (never true when none is configured)."""
    token = gateway_of(request).settings.ops_token
    expected = token.get_secret_value() if token else ""
    if not expected:
        return False
    presented = request.headers.get("authorization", "")
    return hmac.compare_digest(presented.encode(), f"Bearer {expected}".encode())


@router.post("/admin/bootstrap")
async def bootstrap(body: BootstrapIn, request: Request) -> dict[str, Any]:
    """Create organisations and users if missing (idempotent).

    Allowed with ``Authorization: Bearer <GLOWOPS_OPS_TOKEN>``, or without it only while the
    database has no organisation at all (the first set-up). Never on the strength of the
    client's address: behind a reverse proxy on the same host, every client is loopback.
    Existing users keep their password and MFA secret; their role is set to the given one.
    """
    gateway = gateway_of(request)
    async with gateway.db.system_tx() as session:
        allowed = _has_ops_token(request)
        if not allowed:
            if gateway.db.is_postgres:
                # Two first set-ups racing: the second waits, then sees the first's organisation.
                await session.execute(text("LOCK TABLE orgs IN SHARE ROW EXCLUSIVE MODE"))
            allowed = await session.scalar(select(Org.id).limit(1)) is None
        if allowed:
            return {"orgs": await _seed(session, body)}
    await gateway.security.record(
        "auth_failed", "bad_ops_token", client=client_of(request), route=route_of(request)
    )
    raise Problem(
        401,
        "POST /admin/bootstrap needs Authorization: Bearer <GLOWOPS_OPS_TOKEN> "
        "once the database has an organisation.",
        headers={"WWW-Authenticate": 'Bearer realm="glowops-ops"'},
    )


async def _seed(session: AsyncSession, body: BootstrapIn) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for seed in body.orgs:
        org = await session.scalar(select(Org).where(Org.slug == seed.slug))
        if org is None:
            org = Org(slug=seed.slug, name=seed.name)
            session.add(org)
            await session.flush()
        users = []
        for seed_user in seed.users:
            email = seed_user.email.lower()
            user = await session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(
                    org_id=org.id,
                    email=email,
                    password_hash=await anyio.to_thread.run_sync(hash_password, seed_user.password),
                    role=seed_user.role,
                    mfa_secret=mfa.new_secret(),
                    active=True,
                )
                session.add(user)
                await session.flush()
            elif user.org_id != org.id:
                raise Problem(409, f"User {email} already belongs to another organisation.")
            else:
                user.role = seed_user.role
            users.append({"id": user.id, "email": user.email, "role": user.role})
        result.append({"id": org.id, "slug": org.slug, "name": org.name, "users": users})
    return result
