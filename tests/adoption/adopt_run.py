"""Run the outside service in a fresh interpreter and report what a new user would look at.

``python adopt_run.py DATABASE_URL SENTRY_DSN`` (cwd, HOME and GLOWOPS_STATE_DIR chosen by the
test) prints one JSON object: readiness, the metric families on /metrics, the rules and
dashboards the service's settings export, and every alert the embedded engine raised over a
simulated hour of healthy traffic (an injected clock: no sleeping).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import sentry_sdk
import yaml
from fastapi.testclient import TestClient
from outside_service import create_app
from prometheus_client import REGISTRY

from glowops.alerting.export import catalog_from_settings, write_bundle
from glowops.alerting.service import EmbeddedAlerting
from glowops.dashboards.grafana import write_grafana
from glowops.packs import registered_packs

T0 = 1_700_000_000.0
STEP = 15.0  # the default scrape and evaluation interval
HOUR_STEPS = 240


WRITTEN: set[str] = set()  # every path this process opened for writing, created, renamed or removed


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Record writes as they happen (Python's audit events, sqlite3's connect included)."""
    path: Any = None
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1] or "", args[2] or 0
        writes = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if not writes:
            return
    elif event in ("sqlite3.connect", "os.mkdir", "os.remove", "os.rmdir", "os.truncate") and args:
        path = args[0]
    elif event in ("os.rename", "os.replace") and len(args) >= 2:
        WRITTEN.add(os.fsdecode(args[0]) if isinstance(args[0], (str, bytes)) else str(args[0]))
        path = args[1]
    if isinstance(path, (str, bytes, os.PathLike)) and path not in (":memory:", b":memory:", ""):
        WRITTEN.add(os.path.abspath(os.fsdecode(path)))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def simulated_hour(client: TestClient, settings: Any) -> dict[str, Any]:
    clock = Clock()
    engine = EmbeddedAlerting(settings, REGISTRY, clock=clock, notifiers={})
    seen: set[tuple[str, str]] = set()
    statuses: dict[str, int] = {}
    auth = {"Authorization": "Bearer ada@org-1"}
    for step in range(HOUR_STEPS):
        for response in (
            client.post("/notes", json={"text": f"note {step}"}, headers=auth),
            client.get("/notes", headers=auth),
            client.get("/health/ready"),
        ):
            key = f"{response.request.method} {response.request.url.path} {response.status_code}"
            statuses[key] = statuses.get(key, 0) + 1
        clock.now += STEP
        await engine.tick()
        seen |= {(alert.rule, alert.state) for alert in engine.engine.alerts()}
    evaluated = [rule.name for rule in engine.catalog.alerts]
    samples = sum(
        len(series.values) for family in engine.store.by_name.values() for series in family.values()
    )
    await engine.stop()
    return {
        "alerts_seen": sorted(f"{rule} ({state})" for rule, state in seen),
        "requests": statuses,
        "evaluated_rules": evaluated,
        "samples": samples,
        "simulated_seconds": clock.now - T0,
    }


def main(database_url: str, sentry_dsn: str) -> None:
    sys.addaudithook(_audit)
    app = create_app(database_url, sentry_dsn)
    settings = app._glowops_instrumented.settings  # what instrument() settled on for this service
    report: dict[str, Any] = {"service": settings.service_name, "state_dir": str(settings.state_dir)}
    # loopback: /metrics without a token; a 500 is an answer to look at, not an exception here
    with TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False) as client:
        ready = client.get("/health/ready")
        report["ready"] = {"status": ready.status_code, "body": ready.json()}
        report |= asyncio.run(simulated_hour(client, settings))
        exposition = client.get("/metrics").text
        report["families"] = sorted(
            line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")
        )
        boom = client.get("/boom", headers={"Authorization": "Bearer ada@org-1"})
        report["boom"] = {"status": boom.status_code, "request_id": boom.headers.get("x-request-id")}
    sentry_sdk.flush(timeout=10)

    state = Path(settings.state_dir)
    bundle = write_bundle(state / "export", settings, only="prometheus")
    rules = yaml.safe_load((state / "export" / "alerting_rules.yml").read_text())
    report["exported_rules"] = [rule["alert"] for group in rules["groups"] for rule in group["rules"]]
    report["exported_files"] = sorted(bundle.files)
    grafana = write_grafana(state / "grafana", settings)
    report["dashboards"] = sorted(grafana.dashboards)
    report["catalog_packs"] = [pack.name for pack in catalog_from_settings(settings).packs]
    report["registered_packs"] = [pack.name for pack in registered_packs()]
    report["written"] = sorted(WRITTEN)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
