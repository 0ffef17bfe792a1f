"""Login, the caller's identity, MFA enrolment, user management and ops seeding."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import anyio
import pyotp
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from prisma_glow_gateway.deps import Ctx, client_of, context, gateway_of, rate_limit, require, route_of
from prisma_glow_gateway.models import Org, User
from prisma_glow_gateway.problems import Problem
from prisma_glow_gateway.security import ROLES, hash_password, verify_password

router = APIRouter(tags=["auth"], dependencies=[Depends(rate_limit)])

Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Field(min_length=8, max_length=256)]
RoleName = Annotated[str, Field(pattern="^(" + "|".join(ROLES) + ")$")]
MFA_ISSUER = "Prisma Glow"


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
    """Exchange e-mail and password for a bearer token."""
    gateway = gateway_of(request)
    email = body.email.lower()
    async with gateway.db.system() as session:
        user = await session.scalar(select(User).where(User.email == email))
    # Verified even for unknown users (against a dummy hash): the timing does not tell them apart.
    # Argon2 takes ~0.1 s of CPU: off the event loop, so other requests keep flowing.
    ok = await anyio.to_thread.run_sync(verify_password, user.password_hash if user else None, body.password)
    if user is None or not ok or not user.active:
        reason = "unknown_user" if user is None else ("bad_password" if not ok else "disabled_user")
        client = client_of(request)
        await gateway.security.record(
            "auth_failed",
            reason,
            org_id=user.org_id if user else None,
            user_id=user.id if user else None,
            client=client,
            route=route_of(request),
        )
        for key in (f"account:{email}", f"client:{client}"):
            if gateway.login_failures.add(key):
                await gateway.security.record(
                    "suspicious_activity",
                    "repeated_failed_logins",
                    org_id=user.org_id if user else None,
                    client=client,
                    route=route_of(request),
                    detail={"key": key.split(":", 1)[0]},
                )
        raise Problem(
            401, "E-mail or password is wrong.", headers={"WWW-Authenticate": 'Bearer realm="prisma-glow"'}
        )
    token = gateway.tokens.issue(user.id, user.org_id, user.role)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": gateway.tokens.ttl_seconds,
        "user": user_out(user),
    }


@router.get("/auth/me")
async def me(ctx: Ctx = Depends(context)) -> dict[str, Any]:
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None  # context() checked it
    return user_out(user)


@router.get("/auth/mfa")
async def mfa_enrolment(ctx: Ctx = Depends(context)) -> dict[str, Any]:
    """The caller's TOTP provisioning URI: scan it into an authenticator app."""
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None
    uri = pyotp.TOTP(user.mfa_secret).provisioning_uri(name=user.email, issuer_name=MFA_ISSUER)
    return {"provisioning_uri": uri, "issuer": MFA_ISSUER, "digits": 6, "period_seconds": 30}


@router.post("/users", status_code=201)
async def create_user(body: UserIn, ctx: Ctx = Depends(require("users:manage"))) -> dict[str, Any]:
    """Add a user to the caller's organisation (admins only)."""
    email = body.email.lower()
    async with ctx.gateway.db.system() as probe:
        taken = await probe.scalar(select(User.id).where(User.email == email))
    if taken:
        raise Problem(409, "A user with this e-mail already exists.")
    user = User(
        org_id=ctx.org_id,
        email=email,
        password_hash=await anyio.to_thread.run_sync(hash_password, body.password),
        role=body.role,
        mfa_secret=pyotp.random_base32(),
        active=True,
    )
    ctx.session.add(user)
    await ctx.session.commit()
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


def _ops_allowed(request: Request) -> bool:
    """Same rule as glowops' ops endpoints: the ops token, or loopback when none is set."""
    token = gateway_of(request).settings.ops_token
    expected = token.get_secret_value() if token else ""
    if not expected:
        return client_of(request) in ("127.0.0.1", "::1", "localhost")
    presented = request.headers.get("authorization", "")
    return hmac.compare_digest(presented.encode(), f"Bearer {expected}".encode())


@router.post("/admin/bootstrap")
async def bootstrap(body: BootstrapIn, request: Request) -> dict[str, Any]:
    """Create organisations and users if missing (idempotent). Guarded by GLOWOPS_OPS_TOKEN.

    Existing users keep their password and MFA secret; their role is set to the given one.
    """
    if not _ops_allowed(request):
        gateway = gateway_of(request)
        await gateway.security.record(
            "auth_failed", "bad_ops_token", client=client_of(request), route=route_of(request)
        )
        raise Problem(
            401,
            "POST /admin/bootstrap needs Authorization: Bearer <GLOWOPS_OPS_TOKEN>.",
            headers={"WWW-Authenticate": 'Bearer realm="glowops-ops"'},
        )
    gateway = gateway_of(request)
    result: list[dict[str, Any]] = []
    async with gateway.db.system_tx() as session:
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
                        mfa_secret=pyotp.random_base32(),
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
    return {"orgs": result}
