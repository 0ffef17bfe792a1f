"""Approvals: a preparer asks for approval of a committed document, an approver decides.

Amounts above ``GLOWOPS_MFA_AMOUNT_THRESHOLD`` need the approver's current TOTP code. Each
approval is due ``GLOWOPS_APPROVAL_SLA_HOURS`` after the request (a request may ask for a
tighter SLA, never a looser one) and becomes overdue after that; the sweep that marks it runs
periodically and before every read of the pending list.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select, update

import glowops
from prisma_glow_gateway import mfa
from prisma_glow_gateway.deps import Ctx, client_of, rate_limit, require, route_of
from prisma_glow_gateway.gauges import overdue_severity, refresh_approval_gauges, sweep_overdue
from prisma_glow_gateway.models import Approval, Document, User, utcnow
from prisma_glow_gateway.problems import Problem

router = APIRouter(prefix="/approvals", tags=["approvals"], dependencies=[Depends(rate_limit)])
PENDING_CACHE = "approvals_pending"
_log = glowops.get_logger("prisma_glow_gateway.approvals")


class ApprovalIn(BaseModel):
    document_id: Annotated[str, Field(min_length=1, max_length=36)]
    amount: Annotated[float, Field(ge=0, le=1e12)]
    note: Annotated[str, Field(max_length=500)] = ""
    sla_hours: Annotated[float | None, Field(gt=0)] = None


class DecisionIn(BaseModel):
    decision: Literal["approved", "rejected"]
    mfa_code: Annotated[str | None, Field(pattern=r"^\d{6}$")] = None
    note: Annotated[str, Field(max_length=500)] = ""


def approval_out(approval: Approval, mfa_threshold: float) -> dict[str, Any]:
    return {
        "id": approval.id,
        "org_id": approval.org_id,
        "document_id": approval.document_id,
        "requested_by": approval.requested_by,
        "amount": approval.amount,
        "note": approval.note,
        "status": approval.status,
        "mfa_required": approval.mfa_required,
        "overdue": approval.overdue,
        "severity": overdue_severity(approval.amount, mfa_threshold),
        "due_at": approval.due_at.isoformat(),
        "created_at": approval.created_at.isoformat(),
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "decision_note": approval.decision_note,
    }


async def _after_change(ctx: Ctx) -> None:
    await ctx.gateway.cache.invalidate(PENDING_CACHE, ctx.org_id)
    await refresh_approval_gauges(ctx.gateway.db, {ctx.org_id})


@router.post("", status_code=201)
async def request_approval(
    body: ApprovalIn, ctx: Ctx = Depends(require("approvals:request"))
) -> dict[str, Any]:
    """Ask for approval of a committed document."""
    settings = ctx.gateway.settings
    doc: Document = await ctx.get(Document, body.document_id, "document")
    if doc.status != "committed":
        raise Problem(
            409,
            f"Only committed documents can go to approval; this one is {doc.status}.",
            current_status=doc.status,
        )
    sla_hours = min(body.sla_hours or settings.approval_sla_hours, settings.approval_sla_hours)
    now = utcnow()
    approval = Approval(
        org_id=ctx.org_id,
        document_id=doc.id,
        requested_by=ctx.user_id,
        amount=body.amount,
        note=body.note,
        status="pending",
        mfa_required=body.amount > settings.mfa_amount_threshold,
        overdue=False,
        due_at=now + timedelta(hours=sla_hours),
        created_at=now,
        decision_note="",
    )
    ctx.session.add(approval)
    await ctx.session.commit()
    glowops.metrics.counter("approvals_requested", tags={"org_id": ctx.org_id})
    await _after_change(ctx)
    return approval_out(approval, settings.mfa_amount_threshold)


@router.get("/pending")
async def pending(ctx: Ctx = Depends(require("approvals:read"))) -> list[dict[str, Any]]:
    """Pending approvals of the caller's organisation, oldest first (cached briefly)."""
    threshold = ctx.gateway.settings.mfa_amount_threshold
    if await sweep_overdue(ctx.gateway.db, threshold):
        await ctx.gateway.cache.invalidate(PENDING_CACHE, ctx.org_id)

    async def load() -> list[dict[str, Any]]:
        rows = (
            await ctx.session.scalars(
                select(Approval)
                .where(Approval.org_id == ctx.org_id, Approval.status == "pending")
                .order_by(Approval.created_at)
                .limit(500)
            )
        ).all()
        return [approval_out(row, threshold) for row in rows]

    result: list[dict[str, Any]] = await ctx.gateway.cache.get_or_load(
        PENDING_CACHE, ctx.org_id, load, ttl_seconds=10.0
    )
    return result


@router.get("/{approval_id}")
async def get_approval(approval_id: str, ctx: Ctx = Depends(require("approvals:read"))) -> dict[str, Any]:
    await sweep_overdue(ctx.gateway.db, ctx.gateway.settings.mfa_amount_threshold)
    approval: Approval = await ctx.get(Approval, approval_id, "approval")
    await ctx.session.refresh(approval)
    return approval_out(approval, ctx.gateway.settings.mfa_amount_threshold)


async def _mfa_refused(ctx: Ctx, approval: Approval, reason: str) -> Problem:
    glowops.metrics.counter("approvals_mfa_failed")
    return await mfa.refusal(ctx, reason, {"approval_id": approval.id})


async def _step_up(ctx: Ctx, approval: Approval, code: str | None) -> None:
    """The approver's fresh TOTP code (each code once), or a 403 problem."""
    glowops.metrics.counter("approvals_mfa_required")
    if code is None:
        raise await _mfa_refused(ctx, approval, "mfa_missing")
    user = await ctx.session.get(User, ctx.user_id)
    assert user is not None
    if user.mfa_enrolled_at is None:
        raise await _mfa_refused(ctx, approval, "mfa_not_enrolled")
    check = await mfa.use_code(ctx.session, user.id, user.mfa_secret, code, ctx.gateway.clock())
    # The spent step is committed now: a code stays used even if the decision fails below.
    await ctx.session.commit()
    if check != "ok":
        raise await _mfa_refused(ctx, approval, check)
    glowops.metrics.counter("approvals_mfa_completed")


@router.post("/{approval_id}/decision")
async def decide(
    approval_id: str, body: DecisionIn, ctx: Ctx = Depends(require("approvals:decide"))
) -> dict[str, Any]:
    """Approve or reject; amounts above the MFA threshold need ``mfa_code`` (TOTP)."""
    settings = ctx.gateway.settings
    approval: Approval = await ctx.get(Approval, approval_id, "approval")
    if approval.status != "pending":
        raise Problem(409, f"This approval was already {approval.status}.", current_status=approval.status)
    if approval.requested_by == ctx.user_id:
        await ctx.gateway.security.record(
            "permission_denied",
            "approvals:decide_own",
            org_id=ctx.org_id,
            user_id=ctx.user_id,
            client=client_of(ctx.request),
            route=route_of(ctx.request),
        )
        raise Problem(403, "You cannot decide on an approval you requested (separation of duties).")
    if approval.mfa_required:
        await _step_up(ctx, approval, body.mfa_code)
    now = utcnow()
    result = await ctx.session.execute(
        update(Approval)
        .where(Approval.id == approval.id, Approval.org_id == ctx.org_id, Approval.status == "pending")
        .values(status=body.decision, decided_by=ctx.user_id, decided_at=now, decision_note=body.note)
    )
    if getattr(result, "rowcount", 0) != 1:
        await ctx.session.rollback()
        raise Problem(409, "This approval was decided by someone else meanwhile.")
    await ctx.session.commit()
    await ctx.session.refresh(approval)
    waited = (now - approval.created_at).total_seconds()
    glowops.metrics.counter("approvals_decisions", tags={"decision": body.decision})
    glowops.metrics.histogram("approvals_decision_time_seconds", waited, tags={"decision": body.decision})
    _log.info(
        "approval_decided", approval_id=approval.id, decision=body.decision, waited_seconds=round(waited, 3)
    )
    await _after_change(ctx)
    return approval_out(approval, settings.mfa_amount_threshold)
