"""A fresh gateway with ``make run``'s settings, left alone for a simulated hour: what fires?

``python quiet_hour_run.py`` (GLOWOPS_STATE_DIR set by the test) migrates, starts the gateway's
lifespan, runs what the embedded leader runs at start (the backup schedule's first pass: backups
are configured by default), then ticks the embedded alert engine over an hour with an injected
clock, sampling this process's registry as the running service would. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from glowops.alerting.service import EmbeddedAlerting
from glowops.backup.schedule import BackupScheduler
from prisma_glow_gateway.app import create_app
from prisma_glow_gateway.migrate import upgrade
from prisma_glow_gateway.settings import load_settings

STEP = 15.0
HOUR_STEPS = 240
SCHEDULE_EVERY_STEPS = 60  # the schedule checks every 15 minutes


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def left_alone(settings: Any) -> dict[str, Any]:
    clock = Clock()
    start = clock.now
    schedule = BackupScheduler(settings)
    engine = EmbeddedAlerting(settings, REGISTRY, clock=clock, notifiers={})
    seen: set[tuple[str, str]] = set()
    passes: list[list[str]] = []
    for step in range(HOUR_STEPS):
        if step % SCHEDULE_EVERY_STEPS == 0:  # what the leader's schedule loop does
            report = await schedule.run_once()
            passes.append(report.lines + report.errors)
        clock.now += STEP
        await engine.tick()
        seen |= {(alert.rule, alert.state) for alert in engine.engine.alerts()}
    rules = [rule.name for rule in engine.catalog.alerts]
    await engine.stop()
    return {
        "alerts_seen": sorted(f"{rule} ({state})" for rule, state in seen),
        "rules": rules,
        "schedule_passes": passes,
        "simulated_seconds": clock.now - start,
    }


def main() -> None:
    settings = load_settings(embedded_alerting=False)  # the test's clock drives the one engine
    upgrade(settings)
    app = create_app(settings)
    with TestClient(app):  # the lifespan runs (the gateway's background work), no request is made
        report = asyncio.run(left_alone(app._glowops_instrumented.settings))
    report["backups_configured"] = settings.backups_configured
    print(json.dumps(report))


if __name__ == "__main__":
    main()
