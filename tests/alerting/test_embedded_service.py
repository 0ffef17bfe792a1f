"""The embedded service: runs in the background, survives restarts, and the CLI operates it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from embedded_helpers import Harness, receiver_settings
from receivers import http_receiver

from glowops.alerting.service import EmbeddedAlerting, start_embedded_alerting
from glowops.settings import Settings

pytestmark = pytest.mark.anyio


async def test_start_and_stop_run_the_loop_with_the_real_clock(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from glowops.telemetry.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry).gauge("glowops_disk_used_ratio", 0.42)
    settings = Settings(state_dir=tmp_path, scrape_interval_seconds=0.2, evaluation_interval_seconds=0.2)
    service = start_embedded_alerting(settings, registry)
    assert isinstance(service, EmbeddedAlerting)
    await service.start()

    def samples() -> list[float]:
        found = service.store.by_name.get("glowops_disk_used_ratio") or {}
        return [value for series in found.values() for value in series.values]

    for _ in range(600):  # bounded wait on the condition itself: three scrapes happened
        if len(samples()) >= 3:
            break
        await asyncio.sleep(0.05)
    await service.stop()
    (series,) = service.store.by_name["glowops_disk_used_ratio"].values()
    assert len(series.values) >= 3 and series.values[-1] == 0.42
    labels = dict(series.labels)  # target labels like a scrape: the job and where it listens
    assert labels["job"] == settings.effective_scrape_job == "unknown_service"
    assert labels["instance"] == "127.0.0.1:8000"


async def test_a_restart_keeps_samples_and_the_for_clock(tmp_path: Path) -> None:
    with http_receiver() as rx:
        settings = receiver_settings(tmp_path, rx.url)
        first = Harness(settings)
        first.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await first.run(3 * 60)  # StorageAlmostFull pending for 3 of its 5 minutes
        states = {a.rule: a.state for a in first.service.engine.alerts()}
        assert states.pop("Watchdog") == "firing"  # the dead man's switch always fires
        assert set(states.values()) == {"pending"}
        now = first.clock.now
        await first.close()

        second = Harness(settings)
        second.clock.now = now
        second.metrics.gauge("glowops_disk_used_ratio", 0.95)
        (series,) = second.service.store.by_name["glowops_disk_used_ratio"].values()
        assert len(series.values) == 12  # 3 minutes of 15 s samples came back from SQLite
        await second.run(2 * 60 + 15)
        firing = [a for a in second.service.engine.alerts() if a.state == "firing" and a.rule != "Watchdog"]
        assert [a.rule for a in firing] == ["StorageAlmostFull"]  # 5 minutes after it started, not 8
        await second.run(60)
        assert len([r for r in rx.requests if r.path.startswith("/pagerduty")]) == 1
        await second.close()


async def test_the_cli_shows_and_changes_the_running_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glowops.cli import app

    with http_receiver() as rx:
        rx.responses = [(404, {}, "no such hook")]
        settings = receiver_settings(
            tmp_path, rx.url, pagerduty_routing_key=None, teams_webhook_url=None, error_notify_webhook=None
        )
        h = Harness(settings)
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await h.run(8 * 60)
        monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("GLOWOPS_SLACK_WEBHOOK_URL", f"{rx.url}/slack")
        runner = CliRunner()

        result = runner.invoke(app, ["alerts", "status"])
        assert result.exit_code == 0, result.output
        assert "FIRING   StorageAlmostFull" in result.output and "1 dead letter(s)" in result.output
        status = json.loads(runner.invoke(app, ["alerts", "status", "--json"]).output)
        assert status["outbox"] == {"pending": 0, "dead": 1}

        history = runner.invoke(app, ["alerts", "history"]).output
        assert "firing   StorageAlmostFull" in history and "pending  StorageAlmostFull" in history

        out = runner.invoke(app, ["alerts", "outbox", "--dead"]).output
        assert "dead" in out and "HTTP 404" in out
        dead = h.service.outbox.messages("dead")[0]
        dead_id = dead.id
        assert runner.invoke(app, ["alerts", "outbox", "--requeue", str(dead_id)]).exit_code == 0
        h.clock.now = time.time()  # the CLI stamps the requeue with the wall clock
        await h.run(15)
        delivered = {r.headers["Idempotency-Key"] for r in rx.requests if r.path == "/slack"}
        assert dead.idempotency_key in delivered  # the dead letter went out after the requeue

        result = runner.invoke(
            app, ["alerts", "silence", "add", "alertname=StorageAlmostFull", "-d", "1h", "-c", "disk swap"]
        )
        assert result.exit_code == 0 and "active until" in result.output
        assert "alertname='='" not in runner.invoke(app, ["alerts", "silence", "list"]).output
        assert "disk swap" in runner.invoke(app, ["alerts", "silence", "list"]).output
        bad = runner.invoke(app, ["alerts", "silence", "add", "nonsense"])
        assert bad.exit_code != 0 and "not a label matcher" in bad.output

        assert runner.invoke(app, ["alerts", "ack", "StorageAlmostFull", "--by", "carol"]).exit_code == 0
        assert [a.by for a in h.service.state.acks()] == ["carol"]

        # the command runs its own event loop, as it does in a terminal
        result = await asyncio.to_thread(runner.invoke, app, ["alerts", "test-notify", "slack"])
        assert result.exit_code == 0, result.output
        test_body = rx.requests[-1].body
        assert test_body["text"].startswith("[TEST] [FIRING:1] GlowopsTestNotification")
        missing = await asyncio.to_thread(runner.invoke, app, ["alerts", "test-notify", "pagerduty"])
        assert missing.exit_code == 2 and "not configured" in missing.output
        await h.close()
