"""A channel that keeps failing: after the configured delay a copy goes to the fallback channel."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_helpers import Harness, receiver_settings
from receivers import Receiver, http_receiver

pytestmark = pytest.mark.anyio


def slack_texts(rx: Receiver) -> list[str]:
    return [r.body["text"] for r in rx.requests if r.path == "/slack"]


async def test_a_failing_channel_falls_back_after_the_delay_and_only_once(tmp_path: Path) -> None:
    with http_receiver() as down:
        dead_pagerduty = f"{down.url}/pagerduty/v2/enqueue"  # closed below: every attempt fails
    with http_receiver() as rx:
        settings = receiver_settings(
            tmp_path,
            rx.url,
            pagerduty_events_url=dead_pagerduty,
            fallback_channel="slack",
            fallback_after_seconds=300,
        )
        h = Harness(settings)
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)  # StorageAlmostFull: critical after 5 min
        await h.run(6 * 60)
        texts = slack_texts(rx)
        assert len(texts) == 1 and not texts[0].startswith("[FALLBACK")  # Slack's own copy
        await h.run(3 * 60)  # PagerDuty has failed for less than 5 minutes
        assert len(slack_texts(rx)) == 1
        await h.run(3 * 60)
        fallback = slack_texts(rx)[1:]
        assert len(fallback) == 1
        assert fallback[0].startswith("[FALLBACK for pagerduty] [FIRING:1] StorageAlmostFull")
        pending = [m for m in h.service.outbox.messages("pending") if m.channel == "pagerduty"]
        assert pending and pending[0].attempts > 1  # the page itself keeps trying
        await h.run(10 * 60)
        assert len(slack_texts(rx)) == 2  # one fallback per message
        await h.close()


async def test_a_refused_message_falls_back_at_once_and_is_a_dead_letter(tmp_path: Path) -> None:
    with http_receiver() as rx, http_receiver() as refusing:
        refusing.responses.extend([(410, {}, "gone")] * 20)  # a revoked webhook
        settings = receiver_settings(
            tmp_path,
            rx.url,
            error_notify_webhook=f"{refusing.url}/error",
            fallback_channel="slack",
            fallback_after_seconds=3600,
        )
        h = Harness(settings)
        h.metrics.gauge("glowops_disk_used_ratio", 0.95)
        await h.run(6 * 60)
        assert h.service.outbox.dead_count() == 1  # glowops_outbox_dead_letters: NotificationsDeadLettered
        texts = slack_texts(rx)
        assert sorted(t.split(" ")[0] for t in texts) == ["[FALLBACK", "[FIRING:1]"]
        assert any(t.startswith("[FALLBACK for error_webhook]") for t in texts)
        await h.close()
