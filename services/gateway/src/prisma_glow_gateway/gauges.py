"""Gauges computed from the database (the truth), refreshed after the writes that move them."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import glowops
from prisma_glow_gateway.db import Database
from prisma_glow_gateway.models import Approval, Document, Message, utcnow

DOCUMENT_STAGES = ("uploaded", "extracted", "accepted", "committed", "failed")


async def refresh_document_gauges(db: Database) -> None:
    """documents_in_stage{stage} over all organisations, and the extraction queue depth."""
    async with db.system() as session:
        rows = (await session.execute(select(Document.status, func.count()).group_by(Document.status))).all()
    counts = {status: count for status, count in rows}
    for stage in DOCUMENT_STAGES:
        glowops.metrics.gauge("documents_in_stage", counts.get(stage, 0), tags={"stage": stage})
    glowops.metrics.gauge("documents_queue_depth", counts.get("uploaded", 0))


async def refresh_approval_gauges(db: Database, org_ids: set[str] | None = None) -> None:
    """approvals_pending and approvals_overdue per organisation (all orgs when None)."""
    async with db.system() as session:
        query = select(Approval.org_id, Approval.overdue, func.count()).where(Approval.status == "pending")
        if org_ids is not None:
            query = query.where(Approval.org_id.in_(org_ids))
        rows = (await session.execute(query.group_by(Approval.org_id, Approval.overdue))).all()
    pending: dict[str, int] = defaultdict(int)
    overdue: dict[str, int] = defaultdict(int)
    for org_id, is_overdue, count in rows:
        pending[org_id] += count
        if is_overdue:
            overdue[org_id] += count
    for org_id in org_ids if org_ids is not None else set(pending):
        glowops.metrics.gauge("approvals_pending", pending.get(org_id, 0), tags={"org_id": org_id})
        glowops.metrics.gauge("approvals_overdue", overdue.get(org_id, 0), tags={"org_id": org_id})


async def refresh_active_users(session: AsyncSession, org_id: str) -> int:
    """Distinct users of ``org_id`` who wrote to the assistant in the last 24 hours."""
    since = utcnow() - timedelta(hours=24)
    count = await session.scalar(
        select(func.count(distinct(Message.user_id))).where(
            Message.org_id == org_id, Message.role == "user", Message.created_at >= since
        )
    )
    glowops.metrics.gauge("assistant_active_users", count or 0, tags={"org_id": org_id})
    return int(count or 0)


def overdue_severity(amount: float, mfa_threshold: float) -> str:
    """High for approvals large enough to need MFA, medium otherwise."""
    return "high" if amount > mfa_threshold else "medium"


async def sweep_overdue(db: Database, mfa_threshold: float) -> int:
    """Mark pending approvals past their due time as overdue; count each one exactly once.

    Each row is flipped by its own conditional UPDATE, so two sweepers (two workers, or the
    periodic task and an on-read sweep) never count the same approval twice.
    """
    now = utcnow()
    marked: list[tuple[str, float]] = []
    async with db.system_tx() as session:
        due = (
            await session.execute(
                select(Approval.id, Approval.org_id, Approval.amount).where(
                    Approval.status == "pending", Approval.overdue.is_(False), Approval.due_at < now
                )
            )
        ).all()
        for row in due:
            result = await session.execute(
                update(Approval)
                .where(Approval.id == row.id, Approval.overdue.is_(False))
                .values(overdue=True)
            )
            if getattr(result, "rowcount", 0) == 1:
                marked.append((row.org_id, row.amount))
    for _org_id, amount in marked:
        glowops.metrics.counter(
            "approvals_became_overdue", tags={"severity": overdue_severity(amount, mfa_threshold)}
        )
    if marked:
        await refresh_approval_gauges(db, {org_id for org_id, _ in marked})
    return len(marked)
