"""The assistant's tools: real queries over the caller's organisation.

A :class:`Toolbox` is bound to one conversation: it runs a tool in the org-scoped session,
records the invocation (a ``tool_invocations`` row and ``assistant_tool_invocations_total
{tool,outcome}``) and returns a JSON-able result. Responders only ever call tools through it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import glowops
from prisma_glow_gateway.cache import Cache
from prisma_glow_gateway.models import Approval, Document, ToolInvocation

SEARCH_CACHE = "document_search"
_WORD = re.compile(r"[\w-]{2,}")
_SEARCHABLE = ("extracted", "accepted", "committed")


class ToolError(Exception):
    """A tool could not answer (bad arguments, unknown document); the message is for the model."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search_documents",
        "Search the text of the organisation's extracted documents.",
        {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    ),
    ToolSpec(
        "list_pending_approvals",
        "List the organisation's approvals waiting for a decision.",
        {"type": "object", "properties": {}},
    ),
    ToolSpec(
        "document_status",
        "Pipeline status of one document by id.",
        {"type": "object", "properties": {"document_id": {"type": "string"}}, "required": ["document_id"]},
    ),
)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _snippet(text: str, words: list[str], width: int = 160) -> str:
    lower = text.lower()
    positions = [lower.find(w) for w in words if lower.find(w) >= 0]
    start = max(0, min(positions) - 40) if positions else 0
    return " ".join(text[start : start + width].split())


@dataclass
class Toolbox:
    session: AsyncSession
    org_id: str
    conversation_id: str
    cache: Cache
    invocations: list[dict[str, Any]] = field(default_factory=list)

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run tool ``name``; failures come back as ``{"error": ...}`` (and are recorded)."""
        handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = {
            "search_documents": self._search_documents,
            "list_pending_approvals": self._list_pending_approvals,
            "document_status": self._document_status,
        }.get(name)
        started = time.perf_counter()
        if handler is None:
            outcome, result = "unknown_tool", {"error": f"no tool named {name}"}
        else:
            try:
                outcome, result = "ok", await handler(arguments)
            except ToolError as err:
                outcome, result = "error", {"error": str(err)}
        duration_ms = (time.perf_counter() - started) * 1000
        safe_args = {k: v for k, v in arguments.items() if isinstance(v, str | int | float | bool)}
        self.session.add(
            ToolInvocation(
                org_id=self.org_id,
                conversation_id=self.conversation_id,
                tool=name[:60],
                arguments=safe_args,
                outcome=outcome,
                duration_ms=duration_ms,
            )
        )
        glowops.metrics.counter(
            "assistant_tool_invocations", tags={"tool": name if handler else "unknown", "outcome": outcome}
        )
        self.invocations.append({"tool": name, "outcome": outcome, "duration_ms": round(duration_ms, 3)})
        return result

    async def _search_documents(self, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query", "")).strip()
        words = [w.lower() for w in _WORD.findall(query)][:5]
        if not words:
            raise ToolError("the search needs at least one word of two letters or more")
        key = f"{self.org_id}:{hashlib.sha256(' '.join(words).encode()).hexdigest()[:24]}"

        async def load() -> dict[str, Any]:
            rows = (
                await self.session.execute(
                    select(Document.id, Document.filename, Document.status, Document.text)
                    .where(
                        Document.org_id == self.org_id,
                        Document.status.in_(_SEARCHABLE),
                        or_(*[Document.text.ilike(f"%{_escape_like(w)}%", escape="\\") for w in words]),
                    )
                    .limit(50)
                )
            ).all()
            scored = sorted(
                ((sum(w in (r.text or "").lower() for w in words), r) for r in rows),
                key=lambda pair: -pair[0],
            )
            hits = [
                {
                    "document_id": r.id,
                    "filename": r.filename,
                    "status": r.status,
                    "matched_words": score,
                    "snippet": _snippet(r.text or "", words),
                }
                for score, r in scored[:5]
            ]
            return {"query": " ".join(words), "hits": hits}

        result: dict[str, Any] = await self.cache.get_or_load(SEARCH_CACHE, key, load, ttl_seconds=15.0)
        return result

    async def _list_pending_approvals(self, args: dict[str, Any]) -> dict[str, Any]:
        rows = (
            await self.session.scalars(
                select(Approval)
                .where(Approval.org_id == self.org_id, Approval.status == "pending")
                .order_by(Approval.due_at)
                .limit(20)
            )
        ).all()
        return {
            "pending": [
                {
                    "approval_id": a.id,
                    "document_id": a.document_id,
                    "amount": a.amount,
                    "due_at": a.due_at.isoformat(),
                    "overdue": a.overdue,
                }
                for a in rows
            ]
        }

    async def _document_status(self, args: dict[str, Any]) -> dict[str, Any]:
        doc_id = str(args.get("document_id", "")).strip()
        doc = await self.session.scalar(
            select(Document).where(Document.id == doc_id, Document.org_id == self.org_id)
        )
        if doc is None:
            raise ToolError(f"no document {doc_id} in this organisation")
        return {
            "document_id": doc.id,
            "filename": doc.filename,
            "status": doc.status,
            "last_error": doc.error,
        }
