"""The dead man's switch: the always-firing Watchdog reaches the heartbeat receiver and nobody else."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from embedded_helpers import Harness, receiver_settings
from receivers import http_receiver

from glowops.alerting.alertmanager_config import build_alertmanager_config
from glowops.alerting.export import catalog_from_settings
from glowops.alerting.routing import HEARTBEAT_ALERT
from glowops.settings import Settings

pytestmark = pytest.mark.anyio


def test_the_watchdog_is_in_the_catalog_and_routed_to_the_heartbeat_receiver_only(tmp_path: Path) -> None:
    catalog = catalog_from_settings(Settings(state_dir=tmp_path))
    watchdog = catalog.alert(HEARTBEAT_ALERT)
    assert watchdog.expr == "vector(1)" and watchdog.for_ == "0s"
    export = build_alertmanager_config(
        Settings(state_dir=tmp_path, heartbeat_url="https://hc-ping.example/uuid", smtp_host="smtp.example")
    )
    route = export.config["route"]["routes"][0]  # first, without `continue`: it reaches nobody else
    assert route["matchers"] == ['alertname="Watchdog"'] and route["receiver"] == "heartbeat"
    assert route["repeat_interval"] == "1m" and not route.get("continue")
    receiver = next(r for r in export.config["receivers"] if r["name"] == "heartbeat")
    assert receiver["webhook_configs"][0]["url"] == "https://hc-ping.example/uuid"
    bare = build_alertmanager_config(Settings(state_dir=tmp_path))
    assert any("GLOWOPS_HEARTBEAT_URL is not set" in w for w in bare.warnings)
    assert {"name": "heartbeat"} in bare.config["receivers"]  # a valid config all the same


async def test_the_embedded_leader_pings_the_heartbeat_while_it_evaluates(tmp_path: Path) -> None:
    with http_receiver() as rx:
        settings = receiver_settings(tmp_path, rx.url, heartbeat_url=f"{rx.url}/heartbeat")
        h = Harness(settings)
        await h.run(180)  # ticks at 15 s: pings at the first evaluation, then every minute
        pings = [r for r in rx.requests if r.path == "/heartbeat"]
        assert len(pings) == 3 and pings[0].body["alert"] == "Watchdog"
        assert [r.path for r in rx.requests if r.path != "/heartbeat"] == []  # nobody is paged for it
        assert h.service.state.get("heartbeat.last")["outcome"] == "sent"
        assert all(
            m.payload.get("common_labels", {}).get("alertname") != "Watchdog"
            for m in h.service.outbox.messages()
        )
        h.service._next_eval = math.inf  # the engine stops evaluating (a stuck loop)
        await h.run(60)  # one more ping within the grace of two evaluation intervals, then silence
        assert len([r for r in rx.requests if r.path == "/heartbeat"]) == 4
        await h.run(10 * 60)
        assert len([r for r in rx.requests if r.path == "/heartbeat"]) == 4  # the alarm is upstream
        await h.close()


async def test_a_failing_heartbeat_url_is_recorded_and_does_not_stop_the_loop(tmp_path: Path) -> None:
    with http_receiver() as rx:
        rx.responses.append((500, {}, "down"))
        h = Harness(receiver_settings(tmp_path, rx.url, heartbeat_url=f"{rx.url}/heartbeat"))
        await h.run(15)
        assert h.service.state.get("heartbeat.last")["outcome"] == "failed"
        await h.run(60)
        assert h.service.state.get("heartbeat.last")["outcome"] == "sent"
        await h.close()
