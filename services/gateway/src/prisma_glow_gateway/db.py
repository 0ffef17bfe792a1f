"""Database access: one async engine, sessions scoped to an organisation.

On PostgreSQL every transaction of a scoped session starts with::

    SELECT set_config('role', 'glowops_app', true), set_config('app.org_id', <org>, true)

so the statements run as the non-owner role ``glowops_app`` and the row-level-security
policies of the migration filter rows to that organisation, whatever the application's own
``WHERE org_id = ...`` says. The "system" session (login look-ups, the audit trail, gauges over
all organisations, seeding) switches to ``glowops_service`` the same way. Both settings are
transaction-local: they cannot leak to the next user of the pooled connection.

The connecting role itself is given no privilege (:mod:`prisma_glow_gateway.roles`): a
transaction whose role was reset reads nothing.
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
SERVICE_ROLE = "glowops_service"
_SCOPE_SQL = text("SELECT set_config('role', :role, true), set_config('app.org_id', :org, true)")
_SERVICE_SQL = text("SELECT set_config('role', :role, true)")


class _ScopedSync(Session):
    """The sync session behind every AsyncSession; scopes each transaction it begins."""


@event.listens_for(_ScopedSync, "after_begin")
def _scope_transaction(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    org_id = session.info.get("org_id")
    if org_id is None:
        connection.execute(_SERVICE_SQL, {"role": SERVICE_ROLE})
    else:
        connection.execute(_SCOPE_SQL, {"role": APP_ROLE, "org": org_id})


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.close()

    return on_connect


def postgres_connect_args(settings: GatewaySettings) -> dict[str, Any]:
    """asyncpg's deadlines: connect, client-side command timeout, server-side statement timeout.

    The server cancels a statement after ``statement_timeout``; the client gives up one second
    later, which is what ends the wait when the server itself is frozen or unreachable.
    """
    statement_ms = int(settings.db_statement_timeout_seconds * 1000)
    return {
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_seconds + 1.0,
        "server_settings": {
            "statement_timeout": str(statement_ms),
            "lock_timeout": str(statement_ms),
            # A transaction left open by a cancelled request is ended by the server.
            "idle_in_transaction_session_timeout": str(max(statement_ms * 4, 60_000)),
        },
    }


def make_engine(settings: GatewaySettings) -> AsyncEngine:
    """The async engine for the configured database, every call on it under a deadline."""
    url = settings.effective_database_url
    # Parameters out of SQLAlchemy's error messages too (they reach logs and Sentry).
    hide = not settings.log_sql_parameters
    if url.startswith("sqlite"):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        busy = settings.sqlite_busy_timeout_seconds
        engine = create_async_engine(url, connect_args={"timeout": busy}, hide_parameters=hide)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(int(busy * 1000)))
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(settings),
        hide_parameters=hide,
    )


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
