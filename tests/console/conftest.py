"""Fixtures of the console tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered when pytest starts in tests/console (pytest tests/console --update-screenshots);
    # a whole-suite run sees no option and the fixture reads the default.
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        default=False,
        help="Also write the console screenshots to docs/img/ (README and docs use them).",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
