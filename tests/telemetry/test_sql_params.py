"""SQL drivers' parameters and rows never reach the log at any level, unless a setting says so."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from glowops.settings import Settings
from glowops.telemetry.logging import configure_logging

SEARCH = "quarterly audit of jane xyzzy-words"
ROW_VALUE = "row-only-plover-value"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    engine_logger = logging.getLogger("sqlalchemy.engine")
    handlers, level, engine_level = list(root.handlers), root.level, engine_logger.level
    engine_logger.setLevel(logging.DEBUG)  # what create_engine(echo="debug") does
    yield
    engine_logger.setLevel(engine_level)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _query(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (body TEXT)"))
        await connection.execute(text("INSERT INTO notes VALUES (:body)"), {"body": ROW_VALUE})
        rows = await connection.execute(text("SELECT body FROM notes WHERE body != :q"), {"q": SEARCH})
        assert [r.body for r in rows] == [ROW_VALUE]
    await engine.dispose()


@pytest.mark.anyio
@pytest.mark.usefixtures("restore_logging")
async def test_debug_logs_show_statements_but_no_parameters_or_rows(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_level="DEBUG", service_version="1"), stream=stream)
    await _query(tmp_path)
    out = stream.getvalue()
    assert "SELECT body FROM notes" in out  # the driver lines are there...
    assert "executing execute(...)" in out  # aiosqlite's call lines, without their arguments
    assert SEARCH not in out and "xyzzy" not in out  # ...without their parameters
    assert ROW_VALUE not in out  # nor the rows
    assert "SQL parameters hidden" in out


@pytest.mark.anyio
@pytest.mark.usefixtures("restore_logging")
async def test_the_setting_shows_them_with_a_warning_at_start(tmp_path: Path) -> None:
    stream = io.StringIO()
    settings = Settings(log_level="DEBUG", service_version="1", log_sql_parameters=True)
    configure_logging(settings, stream=stream)
    await _query(tmp_path)
    out = stream.getvalue()
    assert "GLOWOPS_LOG_SQL_PARAMETERS is on" in out.splitlines()[0]
    assert "xyzzy-words" in out and ROW_VALUE in out
