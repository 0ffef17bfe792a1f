"""Build an EmbeddedAlerting wired to local receivers, with a clock the test controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from glowops.alerting.dispatch import Timings
from glowops.alerting.service import EmbeddedAlerting
from glowops.settings import Settings
from glowops.telemetry.metrics import Metrics

T0 = 1_700_000_000.0  # a Tuesday, 22:13 UTC


class Clock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def receiver_settings(data_dir: Path, url: str, **extra: Any) -> Settings:
    """Every HTTP channel pointing at one local receiver (distinguished by path)."""
    fields: dict[str, Any] = {
        "state_dir": data_dir,
        "service_name": "gateway",
        "slack_webhook_url": f"{url}/slack",
        "teams_webhook_url": f"{url}/teams",
        "pagerduty_routing_key": "R0UT1NGKEY0000000000000000000000",
        "pagerduty_events_url": f"{url}/pagerduty/v2/enqueue",
        "error_notify_webhook": f"{url}/error",
        "telemetry_alert_webhook": f"{url}/telemetry",
        "rate_limit_alert_webhook": f"{url}/rate-limit",
        "embedding_alert_webhook": f"{url}/embedding",
        "external_url": "http://glowops.test:8000",
        "scrape_interval_seconds": 15.0,
        "evaluation_interval_seconds": 15.0,
    }
    fields.update(extra)
    return Settings(**fields)


class Harness:
    """A service over its own registry; ``run(seconds)`` ticks the clock every 15 s."""

    def __init__(self, settings: Settings, timings: Timings | None = None, **kwargs: Any) -> None:
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.clock = Clock()
        self.outcomes: list[tuple[str, str]] = []
        self.service = EmbeddedAlerting(
            settings,
            self.registry,
            clock=self.clock,
            timings=timings or Timings.uniform(group_wait=30, group_interval=60, repeat_interval=3600),
            on_outcome=lambda channel, outcome: self.outcomes.append((channel, outcome)),
            record_metrics=False,
            **kwargs,
        )

    async def run(self, seconds: float, step: float = 15.0) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.clock.now += step
            await self.service.tick()

    async def close(self) -> None:
        await self.service.stop()
