"""Breach to notification on every channel, against local receivers speaking each protocol."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from embedded_helpers import Harness, receiver_settings
from receivers import http_receiver

from glowops.alerting.notify.base import retry_after_seconds
from glowops.alerting.state import parse_matcher
from peers import free_port

pytestmark = pytest.mark.anyio

RUNBOOK = "https://github.com/prisma-glow/glowops/blob/main/docs/runbooks/alerts/StorageAlmostFull.md"


def by_path(rx: Any, path: str) -> list[dict[str, Any]]:
    return [r.body for r in rx.requests if r.path.startswith(path)]


async def test_a_breach_reaches_every_channel_and_resolves_once(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = Harness(receiver_settings(tmp_path, rx.url))
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)  # StorageAlmostFull: critical, for 5m
        await h.run(4 * 60)
        assert rx.requests == []  # pending: `for` has not elapsed
        await h.run(3 * 60)

        (pd,) = by_path(rx, "/pagerduty")
        assert pd["event_action"] == "trigger" and pd["routing_key"] == "R0UT1NGKEY0000000000000000000000"
        assert pd["payload"]["severity"] == "critical" and pd["payload"]["source"] == "gateway"
        assert {"href": RUNBOOK, "text": "Runbook: StorageAlmostFull"} in pd["links"]
        dedup = pd["dedup_key"]

        (slack,) = by_path(rx, "/slack")
        assert slack["text"].startswith("[FIRING:1] StorageAlmostFull (critical, gateway)")
        assert any(
            RUNBOOK in block["elements"][0]["text"] for block in slack["blocks"] if block["type"] == "context"
        )

        (teams,) = by_path(rx, "/teams")
        card = teams["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard"
        assert {"type": "Action.OpenUrl", "title": "Runbook", "url": RUNBOOK} in card["content"]["actions"]

        (hook,) = by_path(rx, "/error")
        assert hook["version"] == "4" and hook["status"] == "firing" and hook["receiver"] == "error_webhook"
        assert hook["groupLabels"] == {"alertname": "StorageAlmostFull", "service": "gateway"}
        alert = hook["alerts"][0]
        assert (
            alert["labels"]["alertname"] == "StorageAlmostFull"
            and alert["labels"]["job"] == "gateway"  # the scrape job: the service name
        )
        assert alert["annotations"]["runbook_url"] == RUNBOOK and alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert by_path(rx, "/telemetry") == []  # the warning is not firing (and would be inhibited)

        for request in rx.requests:  # the idempotency key travels in the header and in the body
            key = request.headers["Idempotency-Key"]
            assert key in str(request.body)

        h.metrics.gauge("glowops_disk_used_ratio", 0.5)
        await h.run(10 * 60)
        statuses = sorted((r.path, r.body.get("status") or r.body.get("event_action")) for r in rx.requests)
        resolved_pd = [b for b in by_path(rx, "/pagerduty") if b["event_action"] == "resolve"]
        assert len(resolved_pd) == 1 and resolved_pd[0]["dedup_key"] == dedup
        assert [b["status"] for b in by_path(rx, "/error")] == ["firing", "resolved"]
        assert len(by_path(rx, "/slack")) == 2 and len(by_path(rx, "/teams")) == 2, statuses
        assert by_path(rx, "/error")[1]["alerts"][0]["status"] == "resolved"
        await h.close()


async def test_warning_is_inhibited_by_the_critical_of_its_family(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = Harness(receiver_settings(tmp_path, rx.url))
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)  # both StorageAlmostFull and StorageFillingUp fire
        await h.run(20 * 60)
        firing = {a.rule for a in h.service.engine.alerts() if a.state == "firing"}
        assert firing == {"StorageAlmostFull", "StorageFillingUp", "Watchdog"}  # the Watchdog always fires
        assert by_path(rx, "/telemetry") == []  # the warning's own channel never heard of it
        assert all("StorageFillingUp" not in str(r.body) for r in rx.requests)
        await h.close()


async def test_silenced_alerts_are_not_notified(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = Harness(receiver_settings(tmp_path, rx.url))
        h.service.state.add_silence(
            [parse_matcher("alertname=StorageAlmostFull")],
            h.clock.now,
            h.clock.now + 3600,
            "test",
            "maintenance",
        )
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await h.run(10 * 60)
        assert rx.requests == []
        h.clock.now += 3600  # the silence expires; the alert is still firing and goes out now
        await h.run(2 * 60)
        assert len(by_path(rx, "/pagerduty")) == 1
        await h.close()


async def test_receiver_down_for_a_while_loses_nothing(tmp_path: Path) -> None:
    with http_receiver() as rx:
        # four attempts fail with 503, one with a connection-level error code, then the receiver is back
        rx.responses = [(503, {}, "down")] * 6
        h = Harness(receiver_settings(tmp_path, rx.url))
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await h.run(7 * 60)
        h.metrics.gauge("glowops_disk_used_ratio", 0.5)
        await h.run(15 * 60)
        keys = [r.headers["Idempotency-Key"] for r in rx.requests]
        assert len(set(keys)) == 8  # 4 channels x (firing + resolved), every one delivered
        assert h.service.outbox.depth() == 0
        assert ("slack", "failed") in h.outcomes or ("pagerduty", "failed") in h.outcomes
        attempts_by_key: dict[str, int] = {}
        for r in rx.attempts:
            attempts_by_key[r.headers["Idempotency-Key"]] = (
                attempts_by_key.get(r.headers["Idempotency-Key"], 0) + 1
            )
        assert sum(attempts_by_key.values()) == len(rx.attempts) and max(attempts_by_key.values()) > 1
        await h.close()


async def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    with http_receiver() as rx:
        rx.responses = [(429, {"Retry-After": "120"}, "slow down")]
        h = Harness(
            receiver_settings(
                tmp_path,
                rx.url,
                pagerduty_routing_key=None,
                teams_webhook_url=None,
                error_notify_webhook=None,
            )
        )
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await h.run(6 * 60)  # slack only; first attempt answered 429
        assert len(rx.attempts) == 1 and rx.requests == []
        first = h.clock.now
        while not rx.requests:
            await h.run(15)
        assert h.clock.now - first >= 120 - 15  # not retried before Retry-After elapsed (15 s ticks)
        assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 30) == 30
        await h.close()


async def test_a_4xx_goes_to_the_dead_letters(tmp_path: Path) -> None:
    with http_receiver() as rx:
        rx.responses = [(400, {}, "invalid_payload")]
        h = Harness(
            receiver_settings(
                tmp_path,
                rx.url,
                pagerduty_routing_key=None,
                teams_webhook_url=None,
                error_notify_webhook=None,
            )
        )
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await h.run(8 * 60)
        dead = h.service.outbox.messages("dead")
        assert len(dead) == 1 and "HTTP 400" in (dead[0].last_error or "")
        assert ("slack", "dead_lettered") in h.outcomes
        assert len(rx.attempts) == 1  # never retried
        await h.close()


async def test_info_alerts_go_by_email_to_a_real_smtp_server(tmp_path: Path, prismaglow: Any) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Collect(Message):  # type: ignore[misc]
        def handle_message(self, message: Any) -> None:
            received.append(message)

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with http_receiver() as rx:
            h = Harness(
                receiver_settings(
                    tmp_path,
                    rx.url,
                    smtp_host="127.0.0.1",
                    smtp_port=port,
                    alert_email_to=["ops@example.com"],
                )
            )
            # PermissionDeniedSpike (info): more than 100 denials in 5 minutes
            for _ in range(20):
                h.metrics.counter("security_permission_denied", 20, tags={"action": "approve"})
                await h.run(15)
            await h.run(3 * 60)
            await asyncio.sleep(0.2)
            assert len(received) == 1
            mail = received[0]
            assert mail["Subject"].startswith("[FIRING:1] PermissionDeniedSpike (info, gateway)")
            assert mail["To"] == "ops@example.com"
            text = mail.get_payload(decode=True).decode() if not mail.is_multipart() else str(mail)
            assert "glowops_prismaglow/runbooks/alerts/PermissionDeniedSpike.md" in text
            assert message_from_bytes(mail.as_bytes())["Message-ID"].endswith("@glowops>")
            assert rx.requests == []  # info goes to email only
            await h.close()
    finally:
        controller.stop()


async def test_bodies_pass_through_the_redaction_policy(tmp_path: Path) -> None:
    from glowops.alerting.dispatch import Dispatcher, Group
    from glowops.redaction import default_policy
    from glowops.settings import Settings

    with http_receiver() as rx:
        h = Harness(receiver_settings(tmp_path, rx.url))
        dispatcher: Dispatcher = h.service.dispatcher
        group = Group("slack:x", "slack", {"alertname": "X"}, "critical", 0.0)
        entry = {
            "status": "firing",
            "labels": {"alertname": "X", "password": "hunter2"},
            "annotations": {"description": "token sk-live-abcdefghijklmnopqrstuvwx leaked"},
            "startsAt": "",
            "endsAt": "",
            "fingerprint": "f",
        }
        payload = dispatcher.payload(group, "firing", [entry], "key")
        expected = default_policy(Settings()).redact({"password": "hunter2"})
        assert payload["alerts"][0]["labels"]["password"] == expected["password"] != "hunter2"
        await h.close()
