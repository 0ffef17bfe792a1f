"""Database access: one async engine, sessions scoped to an organisation.

On PostgreSQL every transaction of a scoped session starts with::

    SELECT set_config('role', 'glowops_app', true), set_config('app.org_id', <org>, true)

so the statements run as the non-owner role ``glowops_app`` and the row-level-security
policies of the migration filter rows to that organisation, whatever the application's own
``WHERE org_id = ...`` says. Both settings are transaction-local: they cannot leak to the next
user of the pooled connection. The "system" session (login look-ups, the audit trail, gauges
over all organisations, seeding) runs as the connecting role, like a service role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from prisma_glow_gateway.settings import GatewaySettings

APP_ROLE = "glowops_app"
_SCOPE_SQL = text("SELECT set_config('role', :role, true), set_config('app.org_id', :org, true)")


class _ScopedSync(Session):
    """The sync session behind every AsyncSession; scopes each transaction it begins."""


@event.listens_for(_ScopedSync, "after_begin")
def _scope_transaction(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    org_id = session.info.get("org_id")
    if org_id is None or connection.dialect.name != "postgresql":
        return
    connection.execute(_SCOPE_SQL, {"role": APP_ROLE, "org": org_id})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(settings: GatewaySettings) -> AsyncEngine:
    """The async engine for the configured database (creating the SQLite directory)."""
    url = settings.effective_database_url
    # Parameters out of SQLAlchemy's error messages too (they reach logs and Sentry).
    hide = not settings.log_sql_parameters
    if url.startswith("sqlite"):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=hide)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=hide)


class Database:
    """The engine plus two kinds of sessions: org-scoped and system."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.engine = make_engine(settings)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self._factory = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=_ScopedSync
        )

    def scoped(self, org_id: str) -> AsyncSession:
        """A session whose every transaction sees only ``org_id``'s rows (RLS on PostgreSQL)."""
        return self._factory(info={"org_id": org_id})

    def system(self) -> AsyncSession:
        """A session of the service itself, across organisations."""
        return self._factory()

    @asynccontextmanager
    async def system_tx(self) -> AsyncIterator[AsyncSession]:
        """A system session in one transaction, committed on success."""
        async with self.system() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
