"""The document pipeline: upload -> extract -> accept (user review) -> commit.

A state machine over ``documents.status``::

    uploaded --extract--> extracted --accept--> accepted --commit--> committed
        \\--extract fails--> failed

A transition from any other state answers 409. Each stage run is a ``document_events`` row
(outcome, duration, error) and counts in ``documents_stage_total{stage,outcome}`` and
``documents_stage_duration_seconds{stage}``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select, update
from starlette.datastructures import UploadFile as StarletteUploadFile

import glowops
from prisma_glow_gateway.bodylimit import BodyTooLarge
from prisma_glow_gateway.deps import Ctx, rate_limit, require
from prisma_glow_gateway.extract import (
    ALLOWED_TYPES,
    ExtractError,
    ExtractLimits,
    check_upload,
    extract_bounded,
)
from prisma_glow_gateway.gauges import refresh_document_gauges
from prisma_glow_gateway.models import Document, DocumentEvent, new_id, utcnow
from prisma_glow_gateway.problems import Problem

router = APIRouter(prefix="/documents", tags=["documents"], dependencies=[Depends(rate_limit)])
_log = glowops.get_logger("prisma_glow_gateway.documents")

TRANSITIONS: dict[str, tuple[str, str]] = {
    "extract": ("uploaded", "extracted"),
    "accept": ("extracted", "accepted"),
    "commit": ("accepted", "committed"),
}
_CHUNK = 256 * 1024


def document_out(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "org_id": doc.org_id,
        "filename": doc.filename,
        "content_type": doc.content_type,
        "size_bytes": doc.size_bytes,
        "sha256": doc.sha256,
        "status": doc.status,
        "error": doc.error,
        "text_chars": len(doc.text or ""),
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


def _stage_metrics(stage: str, outcome: str, seconds: float) -> None:
    glowops.metrics.counter("documents_stage", tags={"stage": stage, "outcome": outcome})
    glowops.metrics.histogram("documents_stage_duration_seconds", seconds, tags={"stage": stage})


async def _read_limited(upload: StarletteUploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise Problem(
                413,
                f"The file is larger than the {limit}-byte upload limit.",
                error_type="too_large",
                max_bytes=limit,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_upload(error_type: str, message: str, started: float, status: int = 422) -> Problem:
    _stage_metrics("upload", "rejected", time.perf_counter() - started)
    if status == 422:
        glowops.metrics.counter("documents_extract_errors", tags={"error_type": error_type})
    return Problem(status, message, error_type=error_type)


_UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post("", status_code=201, openapi_extra=_UPLOAD_SCHEMA)
async def upload(request: Request, ctx: Ctx = Depends(require("documents:write"))) -> dict[str, Any]:
    """Upload a text, CSV or PDF file (multipart field ``file``).

    The body is read only after the caller is authenticated and allowed to upload (the
    dependencies run first), and never beyond the upload limit (:mod:`~prisma_glow_gateway.bodylimit`).
    """
    started = time.perf_counter()
    limit = ctx.gateway.settings.upload_max_bytes
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            file = form.get("file")
            if not isinstance(file, StarletteUploadFile):
                raise Problem(
                    422,
                    "The request is invalid: check file (a multipart/form-data file field).",
                    title="Invalid request",
                    errors=[{"field": "file", "message": "Field required"}],
                )
            content_type = (file.content_type or "").split(";", 1)[0].strip().lower()
            if content_type not in ALLOWED_TYPES:
                raise _reject_upload(
                    "unsupported_type",
                    f"Content type {content_type or '(none)'} is not allowed; "
                    f"upload one of {', '.join(ALLOWED_TYPES)}.",
                    started,
                    415,
                )
            try:
                data = await _read_limited(file, limit)
            except Problem:
                _stage_metrics("upload", "rejected", time.perf_counter() - started)
                raise
            filename = Path(file.filename or "upload").name[:255] or "upload"
    except BodyTooLarge:  # cut off by the body limit; the middleware answers the 413
        _stage_metrics("upload", "rejected", time.perf_counter() - started)
        raise
    if not data:
        raise _reject_upload("empty_file", "The file is empty.", started)
    # Text and CSV are checked at the door (cheap, linear); a PDF is parsed once, by the extract
    # stage, under its CPU and memory bounds (prisma_glow_gateway.extract).
    try:
        await anyio.to_thread.run_sync(check_upload, content_type, data)
    except ExtractError as err:
        raise _reject_upload(err.error_type, err.message, started) from None

    doc_id = new_id()
    path = ctx.gateway.storage_dir / ctx.org_id / doc_id
    await anyio.to_thread.run_sync(_write_file, path, data)
    doc = Document(
        id=doc_id,
        org_id=ctx.org_id,
        uploaded_by=ctx.user_id,
        filename=filename,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_path=str(path),
        status="uploaded",
    )
    ctx.session.add(doc)
    await ctx.session.flush()
    seconds = time.perf_counter() - started
    ctx.session.add(
        DocumentEvent(
            org_id=ctx.org_id, document_id=doc_id, stage="upload", outcome="ok", duration_ms=seconds * 1000
        )
    )
    await ctx.session.commit()
    glowops.metrics.counter("documents_uploaded", tags={"org_id": ctx.org_id})
    _stage_metrics("upload", "ok", seconds)
    _log.info("document_uploaded", doc_id=doc_id, file_size=len(data), content_type=content_type)
    await refresh_document_gauges(ctx.gateway.db)
    return document_out(doc)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@router.get("")
async def list_documents(
    status: str | None = None, ctx: Ctx = Depends(require("documents:read"))
) -> list[dict[str, Any]]:
    query = select(Document).where(Document.org_id == ctx.org_id)
    if status:
        query = query.where(Document.status == status)
    docs = (await ctx.session.scalars(query.order_by(Document.created_at.desc()).limit(200))).all()
    return [document_out(doc) for doc in docs]


@router.get("/{doc_id}")
async def get_document(doc_id: str, ctx: Ctx = Depends(require("documents:read"))) -> dict[str, Any]:
    doc: Document = await ctx.get(Document, doc_id, "document")
    return document_out(doc)


@router.get("/{doc_id}/events")
async def document_events(doc_id: str, ctx: Ctx = Depends(require("documents:read"))) -> list[dict[str, Any]]:
    await ctx.get(Document, doc_id, "document")
    events = (
        await ctx.session.scalars(
            select(DocumentEvent)
            .where(DocumentEvent.document_id == doc_id, DocumentEvent.org_id == ctx.org_id)
            .order_by(DocumentEvent.created_at)
        )
    ).all()
    return [
        {
            "stage": e.stage,
            "outcome": e.outcome,
            "duration_ms": round(e.duration_ms, 3),
            "error": e.error,
            "at": e.created_at.isoformat(),
        }
        for e in events
    ]


async def _transition(ctx: Ctx, doc_id: str, stage: str, **changes: Any) -> Document:
    """Move ``doc_id`` along ``stage`` if it is in the stage's source state (else 409)."""
    source, target = TRANSITIONS[stage]
    result = await ctx.session.execute(
        update(Document)
        .where(Document.id == doc_id, Document.org_id == ctx.org_id, Document.status == source)
        .values(status=target, updated_at=utcnow(), **changes)
    )
    if getattr(result, "rowcount", 0) != 1:
        current: Document = await ctx.get(Document, doc_id, "document")
        glowops.metrics.counter("documents_stage", tags={"stage": stage, "outcome": "conflict"})
        raise Problem(
            409,
            f"Cannot {stage} a document that is {current.status}; it must be {source}.",
            current_status=current.status,
        )
    moved = await ctx.session.get(Document, doc_id, populate_existing=True)
    assert moved is not None
    return moved


@router.post("/{doc_id}/extract")
async def extract(doc_id: str, ctx: Ctx = Depends(require("documents:write"))) -> dict[str, Any]:
    """Extract the document's text and index it for the assistant's search."""
    started = time.perf_counter()
    doc: Document = await ctx.get(Document, doc_id, "document")
    if doc.status != "uploaded":
        glowops.metrics.counter("documents_stage", tags={"stage": "extract", "outcome": "conflict"})
        raise Problem(
            409,
            f"Cannot extract a document that is {doc.status}; it must be uploaded.",
            current_status=doc.status,
        )
    try:
        data = await anyio.to_thread.run_sync(Path(doc.storage_path).read_bytes)
        settings = ctx.gateway.settings
        limits = ExtractLimits(
            cpu_seconds=settings.extract_cpu_seconds,
            memory_bytes=settings.extract_memory_mb * 1024 * 1024,
            max_page_content_bytes=settings.extract_max_page_content_bytes,
        )
        text = await extract_bounded(doc.content_type, data, limits)
    except (ExtractError, OSError) as err:
        error_type, message = (
            (err.error_type, err.message)
            if isinstance(err, ExtractError)
            else ("storage_error", "The stored file cannot be read.")
        )
        seconds = time.perf_counter() - started
        doc.status, doc.error, doc.updated_at = "failed", message, utcnow()
        ctx.session.add(
            DocumentEvent(
                org_id=ctx.org_id,
                document_id=doc_id,
                stage="extract",
                outcome="failed",
                duration_ms=seconds * 1000,
                error=message,
            )
        )
        await ctx.session.commit()
        glowops.metrics.counter("documents_extract_errors", tags={"error_type": error_type})
        # A document whose text cannot be extracted cannot be indexed either (DocumentIndexingFailures).
        glowops.metrics.counter("documents_indexed", tags={"outcome": "failed"})
        _stage_metrics("extract", "failed", seconds)
        await refresh_document_gauges(ctx.gateway.db)
        raise Problem(422, message, error_type=error_type) from None
    doc = await _transition(ctx, doc_id, "extract", text=text, error=None)
    seconds = time.perf_counter() - started
    ctx.session.add(
        DocumentEvent(
            org_id=ctx.org_id, document_id=doc_id, stage="extract", outcome="ok", duration_ms=seconds * 1000
        )
    )
    await ctx.session.commit()
    _stage_metrics("extract", "ok", seconds)
    glowops.metrics.counter("documents_indexed", tags={"outcome": "indexed" if text.strip() else "empty"})
    await refresh_document_gauges(ctx.gateway.db)
    return document_out(doc)


async def _simple_stage(ctx: Ctx, doc_id: str, stage: str) -> dict[str, Any]:
    started = time.perf_counter()
    doc = await _transition(ctx, doc_id, stage)
    seconds = time.perf_counter() - started
    ctx.session.add(
        DocumentEvent(
            org_id=ctx.org_id, document_id=doc_id, stage=stage, outcome="ok", duration_ms=seconds * 1000
        )
    )
    await ctx.session.commit()
    _stage_metrics(stage, "ok", seconds)
    await refresh_document_gauges(ctx.gateway.db)
    return document_out(doc)


@router.post("/{doc_id}/accept")
async def accept(doc_id: str, ctx: Ctx = Depends(require("documents:write"))) -> dict[str, Any]:
    """The user reviewed the extracted text and accepts it."""
    return await _simple_stage(ctx, doc_id, "accept")


@router.post("/{doc_id}/commit")
async def commit(doc_id: str, ctx: Ctx = Depends(require("documents:write"))) -> dict[str, Any]:
    """Finalise an accepted document; only committed documents can go to approval."""
    return await _simple_stage(ctx, doc_id, "commit")
