"""A small dashboard catalog and a console app over a real embedded alerting service."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from glowops.alerting.service import EmbeddedAlerting
from glowops.console import install_console
from glowops.dashboards.model import Dashboard, Panel, Query, Threshold
from glowops.settings import Settings
from glowops.telemetry.metrics import Metrics

TOKEN = "console-test-token-0123456789-abcdefghij"

DASHBOARDS = (
    Dashboard(
        uid="test-ops",
        title="Test operations",
        description="Disk and requests, for the console tests.",
        panels=(
            Panel(
                key="disk",
                title="Disk used",
                description="Share of the data volume in use.",
                unit="percentunit",
                queries=(Query("max(glowops_disk_used_ratio)", "used"),),
                kind="gauge",
                thresholds=(Threshold(0.9, "critical", "StorageAlmostFull"),),
            ),
            Panel(
                key="requests",
                title="Requests by route",
                description="Request rate per route.",
                unit="reqps",
                queries=(
                    Query(
                        'sum by (route) (rate(http_requests_total{route=~".+"}[$__rate_interval]))',
                        "{{route}}",
                    ),
                ),
            ),
        ),
    ),
)


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Service:
    """An EmbeddedAlerting over its own registry, run on a test clock up to the real now."""

    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.clock = Clock(time.time() - 7 * 60)
        self.alerting = EmbeddedAlerting(
            settings, self.registry, clock=self.clock, notifiers={}, record_metrics=False
        )

    def run_until_now(self, step: float = 15.0) -> None:
        async def run() -> None:
            while self.clock.now + step <= time.time():
                self.clock.now += step
                self.metrics.counter(
                    "http_requests", tags={"method": "GET", "route": "/v1/things", "status": "200"}
                )
                await self.alerting.tick()

        asyncio.run(run())


def console_app(settings: Settings, service: Service | None) -> Starlette:
    app = Starlette()
    install_console(app, settings, dashboards=DASHBOARDS)
    app.state.glowops_alerting = service.alerting if service is not None else None
    return app


def settings_for(data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        state_dir=data_dir, scrape_interval_seconds=15.0, evaluation_interval_seconds=15.0, **extra
    )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)
