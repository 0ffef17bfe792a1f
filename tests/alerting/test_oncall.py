"""On-call: priorities, escalation at the configured times (controlled clock), acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from embedded_helpers import Harness, receiver_settings
from receivers import http_receiver

from glowops.alerting.oncall import load_policy, next_business_day

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Rule:
    name: str = "CheckoutDown"
    expr: str = "glowops_disk_used_ratio > 0.5"
    for_seconds: float = 0
    keep_firing_for_seconds: float = 0
    labels: dict[str, str] = field(
        default_factory=lambda: {
            "severity": "critical",
            "priority": "P0",
            "family": "availability",
            "service": "gateway",
        }
    )
    annotations: dict[str, str] = field(
        default_factory=lambda: {"summary": "down", "runbook_url": "https://runbooks.example/CheckoutDown.md"}
    )


@dataclass(frozen=True)
class Cat:
    alerts: tuple[Rule, ...] = (Rule(),)
    recording: tuple[()] = ()
    job: str = "glowops-gateway"


def oncall_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "oncall.yml"
    path.write_text(
        "levels:\n"
        f"  - {{role: On-call engineer, channel: webhook, target: '{url}/level1'}}\n"
        f"  - {{role: Team lead, channel: webhook, target: '{url}/level2'}}\n"
        f"  - {{role: Engineering manager, channel: webhook, target: '{url}/level3'}}\n"
        f"  - {{role: CTO, channel: webhook, target: '{url}/level4'}}\n"
    )
    return path


def levels(rx: object) -> list[str]:
    return [r.path for r in rx.requests if r.path.startswith("/level")]  # type: ignore[attr-defined]


async def test_unacknowledged_p0_escalates_every_15_minutes(tmp_path: Path) -> None:
    with http_receiver() as rx:
        settings = receiver_settings(tmp_path / "var", rx.url, oncall_file=oncall_file(tmp_path, rx.url))
        h = Harness(settings, catalog=Cat())
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        assert levels(rx) == ["/level1"]  # the on-call engineer, at once
        await h.run(13 * 60)
        assert levels(rx) == ["/level1"]
        await h.run(2 * 60)  # 15 minutes unacknowledged: the team lead
        assert levels(rx) == ["/level1", "/level2"]
        assert next(r.body for r in rx.requests if r.path == "/level2")["escalation"]["role"] == "Team lead"
        await h.run(15 * 60)
        assert levels(rx) == ["/level1", "/level2", "/level3"]
        esc = next(r.body for r in rx.requests if r.path == "/level3")["escalation"]
        assert esc["role"] == "Engineering manager" and esc["priority"] == "P0" and esc["level"] == 3
        h.service.state.add_ack("CheckoutDown", None, h.clock.now, "alice", "on it")
        await h.run(30 * 60)
        assert levels(rx) == ["/level1", "/level2", "/level3"]  # the CTO is never paged
        acks = [
            r.body
            for r in rx.requests
            if r.path.startswith("/pagerduty") and r.body["event_action"] == "acknowledge"
        ]
        assert len(acks) == 1  # and PagerDuty's incident was acknowledged
        await h.close()


async def test_an_alert_acknowledged_early_never_escalates(tmp_path: Path) -> None:
    with http_receiver() as rx:
        settings = receiver_settings(tmp_path / "var", rx.url, oncall_file=oncall_file(tmp_path, rx.url))
        h = Harness(settings, catalog=Cat())
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        h.service.state.add_ack("CheckoutDown", None, h.clock.now, "bob", "")
        await h.run(60 * 60)
        assert levels(rx) == ["/level1"]
        await h.close()


def test_response_times_per_priority(tmp_path: Path) -> None:
    path = tmp_path / "o.yml"
    path.write_text(
        "levels: [{channel: slack}, {channel: email, target: lead@example.com}, {channel: slack}]\n"
        "response_times: {P2: 2h}\n"
    )
    policy = load_policy(path)
    assert policy is not None and policy.levels[0].role == "On-call engineer"
    assert policy.levels[1].role == "Team lead"
    t0 = datetime(2024, 3, 5, 10, 0, tzinfo=UTC).timestamp()  # a Tuesday
    assert policy.deadline("P0", t0) - t0 == 15 * 60
    assert policy.deadline("P1", t0) - t0 == 3600
    assert policy.deadline("P2", t0) - t0 == 2 * 3600  # overridden
    assert policy.due_level("P1", t0, t0 + 3599) == 1 and policy.due_level("P1", t0, t0 + 3600) == 2
    assert policy.due_level("P0", t0, t0 + 10 * 3600) == 3  # never beyond the last level
    friday = datetime(2024, 3, 8, 17, 0, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(next_business_day(friday), UTC) == datetime(2024, 3, 11, 9, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(policy.deadline("P3", t0), UTC) == datetime(2024, 3, 6, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("levels: []\n", "non-empty list"),
        ("levels: [{role: x}]\n", "needs a 'channel'"),
        ("levels: [{channel: slack}]\nresponse_times: {P9: 1h}\n", "unknown priority"),
        ("levels: [{channel: slack}]\nresponse_times: {P1: soon}\n", "not a Prometheus duration"),
        ("levels: [", "not valid YAML"),
    ],
)
def test_a_bad_oncall_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "o.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_policy(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_policy(tmp_path / "missing.yml")
