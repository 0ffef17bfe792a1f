"""The channel table: each row's variables turn on both its notifier and its Alertmanager receiver."""

from __future__ import annotations

import logging
import os

import httpx
import pytest

from glowops.alerting.alertmanager_config import FAMILY_RECEIVERS, build_alertmanager_config
from glowops.alerting.channels import CHANNEL_ENV, CHANNELS, DIRECT_CHANNELS, build_notifiers
from glowops.alerting.routing import BY_FAMILY, BY_SEVERITY
from glowops.deploy.check import EXAMPLE_ENV
from glowops.deploy.render import ALERT_CHANNEL_ENV
from glowops.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No channel variable from the outside environment."""
    for name in os.environ:
        if name in CHANNEL_ENV or name.startswith("GLOWOPS_"):
            monkeypatch.delenv(name)
    return monkeypatch


def integrations(settings: Settings) -> dict[str, list[str]]:
    """receiver name -> its integration keys (``slack_configs``, ``webhook_configs``, ...)."""
    config = build_alertmanager_config(settings).config
    return {r["name"]: sorted(k for k in r if k != "name") for r in config["receivers"]}


@pytest.mark.parametrize("name", list(CHANNELS))
async def test_each_rows_variables_turn_on_its_notifier_and_its_receiver(
    clean_env: pytest.MonkeyPatch, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    channel = CHANNELS[name]
    for variable, example in channel.examples.items():
        clean_env.setenv(variable, example)
    settings = Settings()
    assert getattr(settings, channel.setting), f"{channel.env} did not set Settings.{channel.setting}"

    async with httpx.AsyncClient() as client:
        notifiers = build_notifiers(settings, client)
    assert set(notifiers) == {name, *DIRECT_CHANNELS}  # direct: on-call contacts' own addresses
    assert notifiers[name].channel in (name, "email")

    with caplog.at_level(logging.WARNING):
        export = build_alertmanager_config(settings)
    assert not any(channel.title in w for w in export.warnings), export.warnings
    left_out = {
        w.split(" left out")[0].removeprefix("alert channel ") for w in export.warnings if " left out" in w
    }
    assert left_out == {c.title for c in CHANNELS.values() if c is not channel}
    # only this channel is configured: exactly the receivers the routing policy sends it to
    # carry an integration
    receivers = integrations(settings)
    expected = {sev for sev, names in BY_SEVERITY.items() if name in names}
    expected |= {FAMILY_RECEIVERS[fam] for fam, names in BY_FAMILY.items() if name in names}
    assert {r for r, keys in receivers.items() if keys} == expected


async def test_nothing_configured_means_no_notifier_and_every_channel_left_out_by_name(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    async with httpx.AsyncClient() as client:
        assert set(build_notifiers(settings, client)) == DIRECT_CHANNELS
    warnings = build_alertmanager_config(settings).warnings
    for channel in CHANNELS.values():
        assert f"alert channel {channel.title} left out: {channel.why_missing}" in warnings


def test_the_routing_policy_and_the_deploy_bundle_use_the_table() -> None:
    routed = {n for names in (*BY_SEVERITY.values(), *BY_FAMILY.values()) for n in names}
    assert routed == set(CHANNELS)
    assert (*CHANNEL_ENV, "GLOWOPS_HEARTBEAT_URL") == ALERT_CHANNEL_ENV  # and the dead man's switch
    assert {k: EXAMPLE_ENV[k] for k in CHANNEL_ENV} == {
        k: v for c in CHANNELS.values() for k, v in c.examples.items()
    }
