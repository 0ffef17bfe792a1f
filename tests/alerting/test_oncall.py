"""On-call escalation over the embedded service, with a clock the test drives: four levels,
acknowledgement on every channel, ack timeout, resolve, un-ack and re-assign."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from embedded_helpers import T0, Harness, receiver_settings
from receivers import Receiver, http_receiver

from glowops.alerting.oncall import load_policy
from glowops.redaction import default_policy

pytestmark = pytest.mark.anyio

PD_KEY_DANA = "DANAROUTINGKEY000000000000000000"


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


def policy(url: str, slack_dana: str | None = None, **extra: Any) -> dict[str, Any]:
    """Level 1 a schedule (alice this week), 2 dana (Slack, webhook, PagerDuty), 3 a channel, 4 erin."""
    return {
        "people": {
            "alice": {"webhook": f"{url}/alice"},
            "bob": {"webhook": f"{url}/bob"},
            "dana": {
                "slack": slack_dana or f"{url}/slack-dana",
                "webhook": f"{url}/dana",
                "pagerduty": PD_KEY_DANA,
            },
            "erin": {"webhook": f"{url}/erin"},
        },
        "schedules": {
            "primary": {
                "time_zone": "Europe/Berlin",
                # T0 is Tuesday 2023-11-14 22:13 UTC: alice's week started on Monday
                "layers": [{"people": ["alice", "bob"], "handoff": "weekly", "start": "2023-11-13T09:00"}],
            }
        },
        "levels": [
            {"role": "On-call engineer", "schedule": "primary"},
            {"role": "Team lead", "person": "dana"},
            {"role": "Engineering manager", "channel": "webhook", "target": f"{url}/manager"},
            {"role": "CTO", "person": "erin"},
        ],
        **extra,
    }


def harness(tmp_path: Path, rx: Receiver, slack_dana: str | None = None, **extra: Any) -> Harness:
    path = tmp_path / "oncall.yml"
    path.write_text(yaml.safe_dump(policy(rx.url, slack_dana, **extra)))
    settings = receiver_settings(tmp_path / "var", rx.url, oncall_file=path)
    return Harness(settings, catalog=Cat())


PAGE_PATHS = ("/alice", "/bob", "/slack-dana", "/dana", "/manager", "/erin")


def pages(rx: Receiver) -> list[str]:
    return [r.path for r in rx.requests if r.path in PAGE_PATHS]


def pd_events(rx: Receiver, key: str = PD_KEY_DANA) -> list[str]:
    return [
        r.body["event_action"]
        for r in rx.requests
        if r.path.startswith("/pagerduty") and r.body["routing_key"] == key
    ]


async def test_without_an_ack_all_four_levels_are_paged_at_the_response_times(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = harness(tmp_path, rx)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        assert pages(rx) == ["/alice"]  # whoever the schedule has on call, at once
        await h.run(13 * 60)
        assert pages(rx) == ["/alice"]
        await h.run(2 * 60)  # 15 minutes unacknowledged: the team lead, on each of her contacts
        assert sorted(pages(rx)) == ["/alice", "/dana", "/slack-dana"]
        assert pd_events(rx) == ["trigger"]  # and her own PagerDuty service
        lead = next(r.body for r in rx.requests if r.path == "/dana")
        assert lead["escalation"]["role"] == "Team lead" and lead["escalation"]["paged"] == "dana"
        assert lead["escalation"]["acknowledge_link"].startswith("http://glowops.test:8000/ops/oncall/ack/")
        slack = next(r.body for r in rx.requests if r.path == "/slack-dana")
        assert "/ops/oncall/ack/" in slack["text"]  # the one-click link is in the Slack message too
        await h.run(15 * 60)
        assert pages(rx)[-1] == "/manager"
        await h.run(15 * 60)
        assert pages(rx)[-1] == "/erin"
        await h.run(3 * 3600)
        assert len(pages(rx)) == 5  # nobody is paged twice: the chain ends with the CTO
        await h.close()


async def test_an_ack_on_level_2_stops_every_channel_and_acknowledges_pagerduty(tmp_path: Path) -> None:
    with http_receiver() as rx:
        with http_receiver() as down:
            dead_slack = f"{down.url}/slack-dana"  # a Slack that cannot be reached: the page waits to retry
        h = harness(tmp_path, rx, slack_dana=dead_slack)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(15 * 60 + 15)
        assert pages(rx) == ["/alice", "/dana"]
        waiting = [m for m in h.service.outbox.messages("pending") if m.payload.get("target") == dead_slack]
        assert len(waiting) == 1 and waiting[0].attempts == 1
        h.service.state.add_ack("CheckoutDown", None, h.clock.now, "dana", "on it")
        await h.run(14 * 60)  # within the ack's hold (the P0 response time)
        assert len(pages(rx)) == 2  # the failed page is not retried, the manager is not paged
        cancelled = h.service.outbox.messages("cancelled")
        assert len(cancelled) == 1 and cancelled[0].last_error == "acknowledged or resolved before delivery"
        assert pd_events(rx) == ["trigger", "acknowledge"]
        await h.close()


async def test_an_ack_times_out_and_the_current_level_is_paged_again(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = harness(tmp_path, rx)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        h.service.state.add_ack("CheckoutDown", None, h.clock.now, "alice", "looking")
        await h.run(14 * 60 + 45)
        assert pages(rx) == ["/alice"]  # held: no team lead at 15 minutes
        await h.run(15)  # 15 minutes after the ack and still firing: alice again
        assert pages(rx) == ["/alice", "/alice"]
        await h.run(15 * 60)  # still nobody: the escalation goes on
        assert sorted(pages(rx)[2:]) == ["/dana", "/slack-dana"]
        status = {e["alertname"]: e for e in h.service.escalator.status()}  # type: ignore[union-attr]
        assert any("timed out" in line for line in status["CheckoutDown"]["log"])
        await h.close()


async def test_a_resolve_ends_the_ack_and_a_new_firing_starts_fresh(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = harness(tmp_path, rx)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        h.service.state.add_ack("CheckoutDown", None, h.clock.now, "alice", "")
        await h.run(5 * 60)
        h.metrics.gauge("glowops_disk_used_ratio", 0.1)
        await h.run(5 * 60)
        assert h.service.escalator.status() == []  # type: ignore[union-attr]
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)  # fires again: the old ack does not cover it
        await h.run(60)
        assert pages(rx) == ["/alice", "/alice"]
        await h.run(15 * 60)
        assert sorted(pages(rx)[2:]) == ["/dana", "/slack-dana"]
        await h.close()


async def test_unack_pages_again_and_reassign_pages_the_named_person(tmp_path: Path) -> None:
    with http_receiver() as rx:
        h = harness(tmp_path, rx)
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(60)
        state = h.service.state
        state.add_ack("CheckoutDown", None, h.clock.now, "alice", "")
        await h.run(60)
        state.add_action("unack", "CheckoutDown", None, None, h.clock.now, "alice", "wrong alert")
        await h.run(15)
        assert pages(rx) == ["/alice", "/alice"]
        state.add_action("reassign", "CheckoutDown", None, "bob", h.clock.now, "alice", "bob knows this")
        await h.run(15)
        assert pages(rx)[-1] == "/bob"
        reassigned = next(r.body for r in rx.requests if r.path == "/bob")
        assert reassigned["escalation"]["paged"] == "bob"
        await h.run(14 * 60)
        assert pages(rx)[-1] == "/bob"
        await h.run(60)  # bob did not ack within 15 minutes: the escalation goes on from level 1
        assert sorted(pages(rx)[3:]) == ["/dana", "/slack-dana"]
        await h.close()


def test_response_times_and_legacy_channel_levels(tmp_path: Path) -> None:
    path = tmp_path / "o.yml"
    path.write_text(
        "levels: [{channel: slack}, {channel: email, target: lead@example.com}, {channel: slack}]\n"
        "response_times: {P2: 2h}\n"
    )
    loaded = load_policy(path)
    assert loaded is not None and loaded.levels[0].role == "On-call engineer"
    assert loaded.levels[1].role == "Team lead"
    assert loaded.deadline("P2", T0) - T0 == 2 * 3600  # overridden
    assert loaded.due_level("P1", T0, T0 + 3599) == 1 and loaded.due_level("P1", T0, T0 + 3600) == 2
    assert loaded.due_level("P0", T0, T0 + 10 * 3600) == 3  # never beyond the last level


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


async def test_an_escalation_resumes_after_a_crash_at_the_right_level_and_time(tmp_path: Path) -> None:
    """The process is killed after level 2 and restarts after level 3 fell due: level 3 is paged
    at once, levels 1 and 2 are not paged again, and level 4 follows at its own time."""
    data_dir = tmp_path / "var"
    with http_receiver() as rx:
        path = tmp_path / "oncall.yml"
        path.write_text(yaml.safe_dump(policy(rx.url)))
        child = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parent / "oncall_crash_child.py"),
                str(data_dir),
                rx.url,
                str(path),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "at level 2"  # returns when the child says so
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == -signal.SIGKILL
        assert sorted(pages(rx)) == ["/alice", "/dana", "/slack-dana"]

        h = Harness(receiver_settings(data_dir, rx.url, oncall_file=path), catalog=Cat())
        h.clock.now = T0 + 35 * 60  # back 35 minutes after the start: level 3 fell due at 30
        h.metrics.gauge("glowops_disk_used_ratio", 0.9)
        await h.run(15)
        assert pages(rx)[3:] == ["/manager"]  # taken now, once; nothing before it again
        manager = next(r.body for r in rx.requests if r.path == "/manager")
        assert manager["escalation"]["level"] == 3
        await h.run(9 * 60)  # 44 minutes: level 4 is due at 45
        assert pages(rx)[3:] == ["/manager"]
        await h.run(60)
        assert pages(rx)[3:] == ["/manager", "/erin"]
        assert pd_events(rx) == ["trigger"]  # dana's PagerDuty incident was opened once
        await h.close()


def test_cli_unack_and_reassign_record_actions_and_refuse_strangers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from glowops.alerting.state import StateStore, state_path
    from glowops.cli import app
    from glowops.settings import Settings

    path = tmp_path / "oncall.yml"
    path.write_text(yaml.safe_dump(policy("http://127.0.0.1:9")))
    monkeypatch.setenv("GLOWOPS_ONCALL_FILE", str(path))
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    done = runner.invoke(app, ["alerts", "reassign", "CheckoutDown", "--to", "bob", "--by", "alice"])
    assert done.exit_code == 0 and "re-assigned CheckoutDown to bob" in done.output
    refused = runner.invoke(app, ["alerts", "reassign", "CheckoutDown", "--to", "mallory"])
    assert refused.exit_code == 2 and "neither a person nor a schedule" in refused.output
    assert runner.invoke(app, ["alerts", "unack", "CheckoutDown", "--by", "alice"]).exit_code == 0
    settings = Settings(state_dir=tmp_path / "var")
    state = StateStore.open(state_path(settings), default_policy(settings))
    assert [(a.action, a.target, a.by) for a in state.actions()] == [
        ("reassign", "bob", "alice"),
        ("unack", None, "alice"),
    ]
