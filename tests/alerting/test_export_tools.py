"""The exported files pass the real validators: promtool check config/rules and amtool check-config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from test_export import all_channels

from glowops.alerting.export import write_bundle
from glowops.settings import Settings
from peers import require_binary

pytestmark = [pytest.mark.prometheus, pytest.mark.alertmanager]


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("label", "settings", "scale"),
    [
        ("all channels", all_channels(ops_token="tok-0123456789abcdef0123456789abcdef"), 1.0),
        ("no channel at all", Settings(), 1.0),
        (
            "some channels missing",
            all_channels(
                pagerduty_routing_key=None,
                teams_webhook_url=None,
                smtp_host=None,
                embedding_alert_webhook=None,
            ),
            1.0,
        ),
        ("drill variant", all_channels(ops_token="tok-0123456789abcdef0123456789abcdef"), 60.0),
    ],
)
def test_export_passes_promtool_and_amtool(
    tmp_path: Path, label: str, settings: Settings, scale: float
) -> None:
    promtool = require_binary("promtool")
    amtool = require_binary("amtool")
    write_bundle(tmp_path, settings, time_scale=scale)
    config = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS: 11 rules found" in config.stdout  # the recording rules were loaded too
    rules = run(promtool, "check", "rules", "recording_rules.yml", "alerting_rules.yml", cwd=tmp_path)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    am = run(amtool, "check-config", "alertmanager.yml", cwd=tmp_path)
    assert am.returncode == 0, am.stdout + am.stderr


def test_amtool_refuses_a_broken_config(tmp_path: Path) -> None:
    """The check is real: a route to a receiver that does not exist fails."""
    amtool = require_binary("amtool")
    write_bundle(tmp_path, all_channels())
    path = tmp_path / "alertmanager.yml"
    config = yaml.safe_load(path.read_text())
    config["route"]["routes"][0]["receiver"] = "nobody"
    path.write_text(yaml.safe_dump(config))
    assert run(amtool, "check-config", "alertmanager.yml", cwd=tmp_path).returncode != 0


def test_amtool_routes_each_severity_and_family_to_its_receivers(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    write_bundle(tmp_path, all_channels())

    def routes(*labels: str) -> str:
        result = run(
            amtool, "config", "routes", "test", "--config.file=alertmanager.yml", *labels, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert routes("severity=critical", "family=availability") == "critical"
    assert routes("severity=warning", "family=rate_limit") == "rate-limit,warning"
    assert routes("severity=warning", "family=indexing") == "embedding,warning"
    assert routes("severity=info", "family=security") == "info"
    assert routes("alertname=Foreign") == "blackhole"
