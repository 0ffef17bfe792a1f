"""Fixtures of the dashboard tests: ``--update-golden`` rewrites the pinned Grafana JSON."""

from __future__ import annotations

import pytest

from glowops.settings import Settings


def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered when pytest starts in tests/dashboards (pytest tests/dashboards --update-golden).
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/dashboards/golden/* from the current catalog instead of comparing.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))


@pytest.fixture
def default_settings() -> Settings:
    """Every setting at its default, whatever the environment holds (golden files, docs)."""
    return Settings.model_construct()
