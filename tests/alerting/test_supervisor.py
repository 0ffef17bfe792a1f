"""The supervisor: one engine per host, and a follower takes over when the leader goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from glowops.alerting.supervisor import AlertingSupervisor
from glowops.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_follower_takes_over_within_one_retry_interval(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, scrape_interval_seconds=60, evaluation_interval_seconds=60)
    seen: list[tuple[str, Any]] = []
    first = AlertingSupervisor(settings, retry_seconds=0.1, on_change=lambda a: seen.append(("first", a)))
    second = AlertingSupervisor(settings, retry_seconds=0.1, on_change=lambda a: seen.append(("second", a)))
    await first.start()
    await second.start()
    try:
        assert first.alerting is not None and second.alerting is None  # two workers, one engine
        await asyncio.sleep(0.3)
        assert second.alerting is None  # retries do not steal a held leadership

        await first.stop()
        assert first.alerting is None
        for _ in range(50):
            if second.alerting is not None:
                break
            await asyncio.sleep(0.05)
        assert second.alerting is not None, "the follower should lead once the leader stopped"
    finally:
        await first.stop()
        await second.stop()
    assert [who for who, alerting in seen if alerting is not None] == ["first", "second"]
    assert seen[-1] == ("second", None)


async def test_an_unreachable_database_means_no_engine_and_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        state_dir=tmp_path,
        leader_database_url="postgresql://app:pw@127.0.0.1:1/glow",
        health_check_timeout_seconds=0.2,
    )
    supervisor = AlertingSupervisor(settings, retry_seconds=60)
    await supervisor.start()
    try:
        assert supervisor.alerting is None and supervisor.leadership is None
        assert "cannot take the leadership lock" in caplog.text and "pw" not in caplog.text
    finally:
        await supervisor.stop()
