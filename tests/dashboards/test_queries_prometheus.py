"""The query proof: every panel query of the catalog, run by the real Prometheus against a real
gateway under demo traffic, parses and returns data.

Set-up, as an operator would have it: ``prisma-glow-gateway serve`` (SQLite, scrape and evaluation every
second) with a telemetry webhook; a good backup, a restore drill and a failed backup run in
its data directory; Prometheus scraping it every second with the exported recording rules.
Then ``prisma-glow-gateway demo traffic`` (its Python API), a burst that hits the rate limiter, a
dependency health check, a read that sweeps the overdue approvals and a notification in the
outbox for the gateway's deliverer. Each panel query then goes to ``/api/v1/query`` with
``$__rate_interval`` = 1m and ``$org_id`` = ``.*``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from alerting.test_e2e_prometheus import Inbox, Process, ServerThread
from glowops.alerting.export import write_bundle
from glowops.alerting.outbox import Outbox
from glowops.alerting.state import StateStore, state_path
from glowops.backup.drill import verify_backup
from glowops.backup.errors import BackupError
from glowops.backup.runner import RunOptions, run_backup
from glowops.backup.store import open_store
from glowops.dashboards.catalog import build_dashboards
from glowops.redaction import default_policy
from peers import free_port, require_binary, wait_ready
from prisma_glow_gateway.demo import DEMO_PASSWORD, drive
from prisma_glow_gateway.migrate import upgrade
from prisma_glow_gateway.settings import GatewaySettings as Settings

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

GATEWAY = str(Path(sys.executable).with_name("prisma-glow-gateway"))
RATE_LIMIT_PER_MINUTE = 120  # roomy for the demo's users, reachable by one burst


@dataclass
class Stack:
    gateway: str
    prometheus: str
    inbox: Inbox
    settings: Settings
    logs: Path


def webhook_receiver(inbox: Inbox) -> Starlette:
    """Answers 200 to the Alertmanager-style webhook bodies the gateway posts."""

    async def hook(request: Request) -> Response:
        inbox.add(request.path_params["name"], await request.json())
        return PlainTextResponse("")

    return Starlette(routes=[Route("/hooks/{name}", hook, methods=["POST"])])


def _backups(settings: Settings) -> None:
    """A good backup, a passing restore drill, then a failed run: every backup gauge is set."""
    upgrade(settings)
    store = open_store(settings)
    asyncio.run(run_backup(settings, store, RunOptions(show_progress=False)))
    assert asyncio.run(verify_backup(settings, store, show_progress=False)).ok
    with pytest.raises(BackupError):
        missing = f"sqlite:///{settings.state_dir}/missing/none.db"
        asyncio.run(run_backup(settings, store, RunOptions(database_url=missing, show_progress=False)))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    prometheus = require_binary("prometheus")
    app_port, prom_port, hook_port = free_port(), free_port(), free_port()
    hook = f"http://127.0.0.1:{hook_port}/hooks/telemetry"
    settings = Settings(
        state_dir=tmp_path / "var",
        database_url="",
        host="127.0.0.1",
        port=app_port,
        scrape_interval_seconds=1,
        evaluation_interval_seconds=1,
        telemetry_alert_webhook=hook,
    )
    _backups(settings)
    env = {
        **os.environ,
        "GLOWOPS_STATE_DIR": str(settings.state_dir),
        "GLOWOPS_PORT": str(app_port),
        "GLOWOPS_LOG_LEVEL": "WARNING",
        "GLOWOPS_SCRAPE_INTERVAL_SECONDS": "1",
        "GLOWOPS_EVALUATION_INTERVAL_SECONDS": "1",
        "GLOWOPS_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE),
        "TELEMETRY_ALERT_WEBHOOK": hook,
    }
    for name in ("DATABASE_URL", "GLOWOPS_OPS_TOKEN", "GLOWOPS_OPS_PORT", "GLOWOPS_DEMO"):
        env.pop(name, None)
    # Prometheus: the exported configuration (recording rules included), every second.
    config_dir = tmp_path / "prometheus"
    write_bundle(
        config_dir, settings, target=f"127.0.0.1:{app_port}", alertmanager=f"127.0.0.1:{free_port()}"
    )
    inbox = Inbox()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([GATEWAY, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{app_port}/", server)
        with (
            ServerThread(webhook_receiver(inbox), hook_port),
            Process(
                [
                    prometheus,
                    f"--config.file={config_dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--log.level=warn",
                ],
                f"http://127.0.0.1:{prom_port}/-/ready",
                tmp_path / "prometheus.log",
            ),
        ):
            yield Stack(
                f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{prom_port}", inbox, settings, tmp_path
            )
    finally:
        server.terminate()
        server.wait(15)
        log.close()


def _enqueue_notification(settings: Settings) -> None:
    """A notification waiting in the outbox, as ``glowops alerts test-notify`` leaves one when its
    first attempt fails: the gateway's deliverer sends it and counts glowops_notifications_total.
    (A real alert notifies after its group_wait, 30 s at the least: too long for this test.)"""
    state = StateStore.open(state_path(settings), default_policy(settings))
    labels = {"alertname": "GlowopsTestNotification", "severity": "info", "service": settings.service_name}
    payload = {
        "kind": "test",
        "receiver": "telemetry_webhook",
        "status": "firing",
        "group_key": "test:telemetry_webhook",
        "group_labels": {"alertname": labels["alertname"]},
        "common_labels": labels,
        "common_annotations": {"summary": "dashboard query proof"},
        "external_url": settings.external_url,
        "idempotency_key": f"dashboards-proof-{time.time_ns()}",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "dashboard query proof"},
                "startsAt": "2025-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "proof",
            }
        ],
    }
    try:
        Outbox(state.db).enqueue("telemetry_webhook", payload, str(payload["idempotency_key"]), time.time())
    finally:
        state.db.close()


def _instant(prometheus: str, expr: str) -> dict[str, Any]:
    """Prometheus' answer to an instant query: ``{"status": ..., "data": {"result": [...]}}``."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = response.json()
    return body


def _wait_for_series(prometheus: str, exprs: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    missing = exprs
    while time.monotonic() < deadline:
        missing = [e for e in exprs if not _instant(prometheus, e)["data"]["result"]]
        if not missing:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never saw: {missing}")


def test_every_panel_query_parses_and_returns_data(stack: Stack) -> None:
    started = time.monotonic()
    with httpx.Client(base_url=stack.gateway, timeout=10) as client:
        assert client.get("/health/dependencies").status_code in (200, 503)
        summary = asyncio.run(drive(stack.gateway, duration=6.0, rps=12.0, seed=11))
        assert summary.runs > 40 and summary.unexpected == 0, summary.scenarios
        # One client over its bucket: 429s counted in http_rate_limited_total{route}.
        statuses = [
            client.get("/auth/me", headers={"Authorization": "Bearer rate-limit-probe"}).status_code
            for _ in range(RATE_LIMIT_PER_MINUTE + 5)
        ]
        assert 429 in statuses
        # The demo's one-second SLAs have passed: a read of the pending list sweeps them.
        time.sleep(1.1)
        login = client.post("/auth/login", json={"email": "viewer@demo-acme.demo", "password": DEMO_PASSWORD})
        token = login.json()["access_token"]
        assert (
            client.get("/approvals/pending", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
        assert client.get("/health/dependencies").status_code in (200, 503)
    _enqueue_notification(stack.settings)
    _wait_for_series(
        stack.prometheus,
        [
            "approvals_became_overdue_total",
            "http_rate_limited_total",
            'glowops_notifications_total{outcome="sent"}',
            "glowops_backup_drill_restore_seconds",
        ],
        timeout=20,
    )
    assert any(body.get("receiver") == "telemetry_webhook" for body in stack.inbox.of("telemetry"))
    time.sleep(2.5)  # two more scrapes: rate() over the newest counters has two samples

    results: dict[str, str] = {}
    values: dict[str, float] = {}  # the first sample of each query, printed for the report
    total = 0
    for dashboard in build_dashboards(stack.settings):
        for panel in dashboard.panels:
            for query in panel.queries:
                total += 1
                expr = query.expr.replace("$__rate_interval", "1m").replace("$org_id", ".*")
                body = _instant(stack.prometheus, expr)
                where = f"{dashboard.uid}/{panel.key}/{query.ref_id}"
                if body.get("status") != "success":
                    results[where] = f"error: {body.get('error')} in {expr}"
                elif not body["data"]["result"]:
                    results[where] = f"no data: {expr}"
                else:
                    values[where] = float(body["data"]["result"][0]["value"][1])
    print(
        f"query proof: {total} queries, {total - len(results)} returned data, "
        f"{time.monotonic() - started:.1f} s"
    )
    print("\n".join(f"  {k} = {v:g}" for k, v in values.items()))
    assert total >= 70
    assert results == {}, "\n".join(f"{k}: {v}" for k, v in results.items())
