"""Issue 13, "done when": glowops on a FastAPI service nobody here wrote.

The service (``outside_service.py``) has its own SQLAlchemy engine on PostgreSQL, its own
``sentry_sdk.init(traces_sample_rate=1.0)``, CORS and an auth dependency calling
``glowops.bind_context``; it adopts glowops with ``glowops.instrument(app, checks=[...])`` and no
pack. It runs in a fresh interpreter (``adopt_run.py``), as a service's own process would: no
pack registered by another test, no metric left in the registry by another app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glowops.alerting.routing import HEARTBEAT_ALERT
from glowops.alerting.rules import build_catalog
from glowops.dashboards.catalog import UIDS
from glowops_prismaglow import pack as prismaglow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def sentry_server() -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "tests" / "errors"))
    try:
        from sentry_server import SentryServer
    finally:
        sys.path.remove(str(ROOT / "tests" / "errors"))
    server = SentryServer().start()
    yield server
    server.stop()


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


def test_an_outside_service_adopts_glowops(pg_url: str, sentry_server: Any, tmp_path: Path) -> None:
    work, home, state = tmp_path / "work", tmp_path / "home", tmp_path / "state"
    for folder in (work, home):
        folder.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONPATH": str(HERE),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GLOWOPS_STATE_DIR": str(state),
        # One engine: the test drives it with its own clock instead of the lifespan's wall clock.
        "GLOWOPS_EMBEDDED_ALERTING": "false",
    }
    database_url = pg_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    done = subprocess.run(
        [sys.executable, str(HERE / "adopt_run.py"), database_url, sentry_server.dsn],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    # identity from the app's title; readiness of a healthy service is 200 from the first request
    assert report["service"] == "notes-api"
    assert report["ready"]["status"] == 200, report["ready"]

    # /metrics: the service's RED metrics, no Prisma Glow family
    families = set(report["families"])
    assert {"http_requests_total", "http_request_duration_seconds", "glowops_health_check_up"} <= families
    pack_families = {name for spec in prismaglow.metrics for name in (spec.name, spec.exposed_name)}
    assert not families & pack_families, sorted(families & pack_families)
    assert report["registered_packs"] == [] and report["catalog_packs"] == []

    # only generic dashboards and rules are exported (and no backup rule: none configured)
    assert report["dashboards"] == sorted(UIDS)
    generic = {rule.name for rule in build_catalog(backups=False).alerts}
    assert set(report["exported_rules"]) == generic
    assert not any(name.startswith("Backup") for name in report["exported_rules"])
    assert any(name.startswith("rule_tests_") for name in report["exported_files"])

    # a simulated hour of healthy traffic: every rule evaluated, nothing pending, nothing firing
    assert report["simulated_seconds"] == 3600
    assert set(report["evaluated_rules"]) == generic and report["samples"] > 1000
    assert report["requests"] == {
        "POST /notes 201": 240,
        "GET /notes 200": 240,
        "GET /health/ready 200": 240,
    }
    # only the Watchdog, the dead man's switch that always fires (proof the engine evaluated)
    assert report["alerts_seen"] == [f"{HEARTBEAT_ALERT} (firing)"]

    # the service's own Sentry tracing still reaches its endpoint, next to glowops' scrubbed event
    transactions = sentry_server.transactions
    assert len(transactions) >= 480, len(transactions)
    assert {t.get("transaction") for t in transactions} >= {"/notes"}
    assert {t.get("environment") for t in transactions} == {"outside-staging"}
    events = sentry_server.wait_events(1)
    errors = [e for e in events if e.get("exception")]
    assert errors, events
    for event in errors:
        text = json.dumps(event)
        assert "hunter2" not in text and "4111 1111 1111 1111" not in text
        assert event.get("environment") == "outside-staging"
    assert report["boom"]["status"] == 500
    assert any(e.get("tags", {}).get("request_id") == report["boom"]["request_id"] for e in errors)

    # every file the service wrote is under the state directory (glowops' and the exports asked for)
    assert files_under(work) == set() and files_under(home) == set()
    written = files_under(tmp_path)
    assert written and all(state in p.parents for p in written), sorted(map(str, written))
    assert any(p.name == "alerting.db" for p in written)
    # ... and every write the process made (audit hook: open, sqlite3.connect, mkdir, rename) too
    assert report["written"], "the audit hook saw no write at all"
    outside = [p for p in report["written"] if not Path(p).is_relative_to(state) and p != os.devnull]
    assert outside == [], outside
