"""Apply the gateway's Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from prisma_glow_gateway.settings import GatewaySettings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(settings: GatewaySettings) -> Config:
    """An Alembic config pointing at the packaged migrations and the configured database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = settings.effective_migration_url
    return config


def upgrade(settings: GatewaySettings, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call on every start (no-op when current)."""
    if settings.effective_migration_url.startswith("sqlite"):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    config = alembic_config(settings)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(config, revision)
        return
    # The environment runs its own event loop: from inside a running loop, use a thread.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(config, revision)
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=run, name="glowops-migrate")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def current_revision(settings: GatewaySettings) -> str | None:
    """The revision the database is at (None before the first migration)."""
    found: list[str | None] = []

    def run() -> None:
        from alembic.runtime.migration import MigrationContext
        from sqlalchemy.ext.asyncio import create_async_engine

        async def read() -> None:
            engine = create_async_engine(settings.effective_migration_url)
            try:
                async with engine.connect() as conn:
                    found.append(
                        await conn.run_sync(
                            lambda sync: MigrationContext.configure(sync).get_current_revision()
                        )
                    )
            finally:
                await engine.dispose()

        asyncio.run(read())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found[0] if found else None
