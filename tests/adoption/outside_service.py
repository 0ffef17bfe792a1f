"""A FastAPI service in the style of one nobody here wrote, adopting glowops in five lines.

It has its own SQLAlchemy engine on PostgreSQL, its own ``sentry_sdk.init`` with tracing at
1.0, CORS, and an auth dependency that calls ``glowops.bind_context``. Everything glowops needs
is the block marked "glowops" in :func:`create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import sentry_sdk
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import glowops
from glowops.health import checks

SENTRY_ENVIRONMENT = "outside-staging"


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(200))


def current_user(authorization: Annotated[str, Header()] = "") -> dict[str, str]:
    """``Authorization: Bearer <user>@<org>``: the service's own (toy) authentication."""
    token = authorization.removeprefix("Bearer ").strip()
    user, _, org = token.partition("@")
    if not user or not org:
        raise HTTPException(status_code=401, detail="missing credentials")
    glowops.bind_context(user_id=user, org_id=org)
    return {"user": user, "org": org}


def create_app(database_url: str, sentry_dsn: str) -> FastAPI:
    """The service, its engine on ``database_url`` (postgresql+asyncpg://), Sentry on ``sentry_dsn``."""
    sentry_sdk.init(dsn=sentry_dsn, traces_sample_rate=1.0, environment=SENTRY_ENVIRONMENT)
    engine: AsyncEngine = create_async_engine(database_url, pool_pre_ping=True)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(title="Notes API", lifespan=lifespan)
    app.add_middleware(CORSMiddleware, allow_origins=["https://notes.example.com"], allow_methods=["*"])

    @app.post("/notes", status_code=201)
    async def add_note(body: dict[str, str], who: Annotated[dict[str, str], Depends(current_user)]) -> Any:
        async with sessions() as session, session.begin():
            note = Note(org=who["org"], text=body.get("text", "")[:200])
            session.add(note)
        return {"id": note.id}

    @app.get("/notes")
    async def list_notes(who: Annotated[dict[str, str], Depends(current_user)]) -> Any:
        async with sessions() as session:
            rows = await session.scalars(select(Note).where(Note.org == who["org"]).order_by(Note.id))
            return [{"id": n.id, "text": n.text} for n in rows]

    @app.get("/boom")
    async def boom(who: Annotated[dict[str, str], Depends(current_user)]) -> Any:
        raise RuntimeError("charge failed for card 4111 1111 1111 1111, password=hunter2")

    # --- glowops: the whole adoption --------------------------------------------------------
    glowops.instrument(app, checks=[checks.database(engine)])
    return app
