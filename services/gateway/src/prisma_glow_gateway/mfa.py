"""TOTP second factor: enrolment confirmed by a first code, each time step accepted once.

A user's secret is shown once, when they enrol (``POST /auth/mfa/enrol``); it only becomes their
second factor after a first valid code (``POST /auth/mfa/confirm``). A code is checked against
the current 30-second step and its two neighbours (clock drift); the step it matched is stored
in ``users.mfa_last_step`` by a conditional UPDATE, so a code (or any code of an earlier step) is
refused the second time, even by two requests racing each other.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from prisma_glow_gateway.deps import Ctx, client_of, route_of
from prisma_glow_gateway.models import User
from prisma_glow_gateway.problems import Problem
from prisma_glow_gateway.security import SecurityKind

ISSUER = "Prisma Glow"
DIGITS = 6
PERIOD_SECONDS = 30
# Steps either side of now still accepted: one step absorbs a phone clock up to 30 s off.
DRIFT_STEPS = 1

CodeCheck = Literal["ok", "invalid", "replay"]


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS).provisioning_uri(
        name=email, issuer_name=ISSUER
    )


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code ``code`` is (now and its neighbours), else None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
    current = int(now // PERIOD_SECONDS)
    found = None
    # Every candidate is compared (constant work whichever matches).
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found = step
    return found


async def use_code(session: AsyncSession, user_id: str, secret: str, code: str, now: float) -> CodeCheck:
    """Check ``code`` against ``secret`` and spend its time step for ``user_id``.

    The UPDATE runs in ``session``'s transaction; the caller commits it (a spent step stays spent
    whatever the request does next).
    """
    step = matching_step(secret, code, now)
    if step is None:
        return "invalid"
    result = await session.execute(
        update(User)
        .where(User.id == user_id, or_(User.mfa_last_step.is_(None), User.mfa_last_step < step))
        .values(mfa_last_step=step)
    )
    return "ok" if getattr(result, "rowcount", 0) == 1 else "replay"


async def refusal(ctx: Ctx, check: str, detail: dict[str, Any] | None = None) -> Problem:
    """The refusal of a missing, wrong or replayed code: an audit row, a counter, a 403 problem.

    A replayed code counts in ``security_auth_failed_total{reason="mfa_replay"}``.
    """
    reason = {"invalid": "mfa_invalid", "replay": "mfa_replay"}.get(check, check)
    kind: SecurityKind = "auth_failed" if reason == "mfa_replay" else "mfa_failed"
    await ctx.gateway.security.record(
        kind,
        reason,
        org_id=ctx.org_id,
        user_id=ctx.user_id,
        client=client_of(ctx.request),
        route=route_of(ctx.request),
        detail=detail,
    )
    messages = {
        "mfa_missing": "This action needs mfa_code, the current code of your authenticator app.",
        "mfa_invalid": "The MFA code is not valid.",
        "mfa_replay": "This MFA code was already used; wait for the next code of your authenticator app.",
        "mfa_not_enrolled": "You have no MFA enrolled: POST /auth/mfa/enrol, then /auth/mfa/confirm.",
    }
    return Problem(403, messages[reason], error_type=reason)
