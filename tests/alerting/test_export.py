"""The exported files: structure, routing from Settings, secrets on disk, drills, docs, CLI."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from glowops.alerting.alertmanager_config import build_alertmanager_config, parse_version
from glowops.alerting.channels import TEAMS_RELAY_PATH
from glowops.alerting.docs import render_markdown
from glowops.alerting.export import alerting_rules, prometheus_config, recording_rules, write_bundle
from glowops.alerting.rules import build_catalog
from glowops.cli import app as root_app
from glowops.settings import Settings
from glowops_prismaglow import pack as prismaglow_pack

ROOT = Path(__file__).resolve().parents[2]


def all_channels(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_webhook_url": "https://hooks.slack.example/services/T0/B0/abc",
        "teams_webhook_url": "https://teams.example/workflows/xyz",
        "pagerduty_routing_key": "R0UT1NGKEY0123456789abcdefabcdef",
        "pagerduty_events_url": "https://events.pagerduty.example/v2/enqueue",
        "error_notify_webhook": "https://hooks.example.com/error",
        "telemetry_alert_webhook": "https://hooks.example.com/telemetry",
        "rate_limit_alert_webhook": "https://hooks.example.com/rate-limit",
        "embedding_alert_webhook": "https://hooks.example.com/embedding",
        "smtp_host": "mail.example.com",
        "smtp_port": 587,
        "smtp_username": "alerts",
        "smtp_password": "s3cret",
        "smtp_starttls": True,
        "alert_email_to": ["oncall@example.com", "ops@example.com"],
        "external_url": "https://glow.example.com",
        "heartbeat_url": "https://hc-ping.example.com/0f5f8f5e",
    }
    values.update(overrides)
    return Settings(**values)


def receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in config["receivers"] if r["name"] == name)


def urls(rcv: dict[str, Any]) -> list[str]:
    return [w["url"] for w in rcv.get("webhook_configs", [])]


def test_critical_pages_and_posts_to_chat_and_error_webhook() -> None:
    config = build_alertmanager_config(all_channels()).config
    critical = receiver(config, "critical")
    pd = critical["pagerduty_configs"][0]
    assert pd["routing_key"] == "R0UT1NGKEY0123456789abcdefabcdef"
    assert pd["url"] == "https://events.pagerduty.example/v2/enqueue"
    assert any("runbook_url" in link["href"] for link in pd["links"])
    assert critical["slack_configs"][0]["api_url"] == "https://hooks.slack.example/services/T0/B0/abc"
    assert critical["slack_configs"][0]["send_resolved"] is True
    assert "runbook_url" in critical["slack_configs"][0]["text"]
    assert urls(critical) == [
        "https://glow.example.com" + TEAMS_RELAY_PATH,
        "https://hooks.example.com/error",
    ]
    warning = receiver(config, "warning")
    assert "pagerduty_configs" not in warning
    assert urls(warning)[-1] == "https://hooks.example.com/telemetry"
    info = receiver(config, "info")
    assert info["email_configs"] == [{"to": "oncall@example.com, ops@example.com", "send_resolved": True}]
    assert set(info) == {"name", "email_configs"}
    assert config["global"]["smtp_smarthost"] == "mail.example.com:587"
    assert config["global"]["smtp_require_tls"] is True
    assert config["global"]["smtp_auth_password"] == "s3cret"


def test_route_tree_grouping_and_inhibition() -> None:
    config = build_alertmanager_config(all_channels()).config
    route = config["route"]
    assert route["group_by"] == ["alertname", "service"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    routes = {r["receiver"]: r for r in route["routes"]}
    assert routes["rate-limit"] == {
        "receiver": "rate-limit",
        "matchers": ['family="rate_limit"'],
        "continue": True,
    }
    assert routes["embedding"]["matchers"] == ['family="indexing"']
    assert routes["embedding"]["continue"] is True
    assert routes["critical"]["matchers"] == ['severity="critical"']
    assert routes["critical"]["repeat_interval"] == "1h"
    # the Watchdog's heartbeat first (it reaches nobody else), then the family routes, or
    # `continue` would never be reached
    assert [r["receiver"] for r in route["routes"]][:3] == ["heartbeat", "rate-limit", "embedding"]
    assert urls(receiver(config, "rate-limit")) == ["https://hooks.example.com/rate-limit"]
    assert urls(receiver(config, "embedding")) == ["https://hooks.example.com/embedding"]
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"warning|info"'],
            "equal": ["family", "service"],
        }
    ]


def test_missing_channels_are_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = all_channels(
        pagerduty_routing_key=None, slack_webhook_url=None, rate_limit_alert_webhook=None, smtp_host=None
    )
    with caplog.at_level(logging.WARNING, logger="glowops.alerting.alertmanager_config"):
        export = build_alertmanager_config(settings)
    critical = receiver(export.config, "critical")
    assert "pagerduty_configs" not in critical and "slack_configs" not in critical
    assert urls(critical)[-1] == "https://hooks.example.com/error"
    assert receiver(export.config, "rate-limit") == {"name": "rate-limit"}
    assert receiver(export.config, "info") == {"name": "info"}
    assert "smtp_smarthost" not in export.config["global"]
    joined = "\n".join(export.warnings)
    assert "PagerDuty left out: GLOWOPS_PAGERDUTY_ROUTING_KEY is not set" in joined
    assert "RATE_LIMIT_ALERT_WEBHOOK is not set" in joined
    assert "receiver 'info' has no channel configured" in joined
    assert "PagerDuty left out" in caplog.text
    assert joined.count("Slack left out") == 1  # once per channel, not once per receiver


def test_teams_uses_msteamsv2_from_alertmanager_0_28() -> None:
    old = receiver(build_alertmanager_config(all_channels()).config, "warning")
    assert "msteamsv2_configs" not in old
    new = receiver(build_alertmanager_config(all_channels(alertmanager_version="0.28.1")).config, "warning")
    assert new["msteamsv2_configs"][0]["webhook_url"] == "https://teams.example/workflows/xyz"
    assert TEAMS_RELAY_PATH not in " ".join(urls(new))
    assert parse_version("v0.28.1") == (0, 28, 1)
    with pytest.raises(ValueError, match="not an Alertmanager version"):
        parse_version("latest")


def test_prometheus_config_scrapes_the_gateway_with_the_token_file() -> None:
    config = prometheus_config(
        Settings(service_name="gateway"),
        target="10.0.0.5:9100",
        alertmanager="am:9093",
        token_file="ops_token",
    )
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["10.0.0.5:9100"]
    assert job["static_configs"][0]["labels"] == {"service": "gateway"}
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "ops_token"}
    assert config["rule_files"] == ["recording_rules.yml", "alerting_rules.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["am:9093"]
    assert config["global"]["scrape_interval"] == "15s"
    no_token = prometheus_config(Settings(), target="x:1", alertmanager="am:9093")
    assert "authorization" not in no_token["scrape_configs"][0]


def test_bundle_files_and_secret_permissions(tmp_path: Path) -> None:
    settings = all_channels(ops_token="metrics-token-0123456789abcdef0123456789", ops_port=9464)
    (tmp_path / "alertmanager.yml").write_text("old")
    (tmp_path / "alertmanager.yml").chmod(0o644)
    bundle = write_bundle(tmp_path, settings)
    assert set(bundle.files) >= {
        "prometheus.yml",
        "recording_rules.yml",
        "alerting_rules.yml",
        "alertmanager.yml",
        "ops_token",
        "rule_tests_1m.yml",
    }
    for secret in ("alertmanager.yml", "ops_token"):
        assert stat.S_IMODE((tmp_path / secret).stat().st_mode) == 0o600, secret
    assert (tmp_path / "ops_token").read_text() == "metrics-token-0123456789abcdef0123456789"
    prom = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]  # the ops port
    assert "metrics-token-0123456789abcdef0123456789" not in (tmp_path / "prometheus.yml").read_text()
    am = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    assert (
        receiver(am, "critical")["pagerduty_configs"][0]["routing_key"]
        == settings.pagerduty_routing_key.get_secret_value()  # type: ignore[union-attr]
    )
    assert bundle.warnings == []


def test_rule_files_carry_labels_annotations_for_and_keep_firing_for() -> None:
    catalog = build_catalog(packs=[prismaglow_pack])
    groups = alerting_rules(catalog)["groups"]
    assert [g["name"] for g in groups] == [f"glowops-{f}" for f in catalog.families]
    rules = {r["alert"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {r.name for r in catalog.alerts}
    high = rules["HighErrorRate"]
    assert (high["for"], high["keep_firing_for"]) == ("2m", "5m")
    assert high["labels"] == {
        "severity": "critical",
        "family": "availability",
        "priority": "P0",
        "service": "gateway",
    }
    assert high["annotations"]["runbook_url"].endswith("/docs/runbooks/alerts/HighErrorRate.md")
    assert "for" not in rules["BackupFailed"]  # 0s is written as no `for` at all
    records = recording_rules(catalog)["groups"][0]["rules"]
    assert {r["record"] for r in records} >= {
        f"glowops:http_request_errors:ratio_rate{w}" for w in ("5m", "30m", "1h", "6h", "3d")
    }


def test_drill_export_scales_every_timing(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, all_channels(), time_scale=60, target="127.0.0.1:8123")
    assert not any(name.startswith("rule_tests") for name in bundle.files)  # tests are for production timings
    prom = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert prom["global"]["scrape_interval"] == "1s"  # 15 s / 60, floored at 1 s
    assert prom["global"]["evaluation_interval"] == "1s"
    rules = {
        r["alert"]: r
        for g in yaml.safe_load((tmp_path / "alerting_rules.yml").read_text())["groups"]
        for r in g["rules"]
    }
    assert rules["HighErrorRate"]["for"] == "2s"
    am = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    assert (am["route"]["group_wait"], am["route"]["group_interval"]) == ("500ms", "5s")
    with pytest.raises(ValueError, match="positive"):
        write_bundle(tmp_path, Settings(), time_scale=0)


def test_docs_alerts_md_is_up_to_date() -> None:
    """Regenerate with: glowops --pack prismaglow alerts docs --out docs/alerts.md"""
    current = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    expected = render_markdown(build_catalog(packs=[prismaglow_pack]))
    assert current == expected, "run `glowops --pack prismaglow alerts docs --out docs/alerts.md`"


def test_docs_list_every_rule_with_channel_and_runbook() -> None:
    catalog = build_catalog(packs=[prismaglow_pack])
    page = render_markdown(catalog)
    for rule in catalog.alerts:
        assert f"**{rule.name}**" in page
        link = f"runbooks/alerts/{rule.name}.md" if not rule.pack else f"../{rule.runbook_path}"
        assert f"({link})" in page
        assert (ROOT / "docs" / link).resolve().is_file(), link
    assert '`sum(rate(documents_indexed_total{outcome="failed"}[15m]))' in page
    assert "| severity `critical` | PagerDuty, Slack, Teams, ERROR_NOTIFY_WEBHOOK |" in page


def test_cli_export_and_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_ALERT_WEBHOOK", "https://hooks.example.com/telemetry")
    runner = CliRunner()
    result = runner.invoke(
        root_app, ["alerts", "export", "--out", str(tmp_path / "b"), "--target", "gw:8000"]
    )
    assert result.exit_code == 0, result.output
    assert "alertmanager.yml  (0600)" in result.output
    assert "PagerDuty left out" in result.output
    prom = yaml.safe_load((tmp_path / "b" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["gw:8000"]
    am = yaml.safe_load((tmp_path / "b" / "alertmanager.yml").read_text())
    assert urls(receiver(am, "warning")) == ["https://hooks.example.com/telemetry"]

    bad = runner.invoke(root_app, ["alerts", "export", "--out", str(tmp_path / "c"), "--time-scale", "0"])
    assert bad.exit_code != 0

    page = tmp_path / "alerts.md"
    assert runner.invoke(root_app, ["alerts", "docs", "--out", str(page)]).exit_code == 0
    assert runner.invoke(root_app, ["alerts", "docs", "--out", str(page), "--check"]).exit_code == 0
    page.write_text("stale")
    stale = runner.invoke(root_app, ["alerts", "docs", "--out", str(page), "--check"])
    assert stale.exit_code == 1
    assert "out of date" in stale.output


def test_a_regex_alternation_cannot_break_the_docs_table() -> None:
    from glowops.alerting.docs import _cell

    assert _cell('rate(x{outcome=~"error|failed"}[5m])') == 'rate(x{outcome=~"error\\|failed"}[5m])'


def test_only_writes_one_part(tmp_path: Path) -> None:
    settings = all_channels(ops_token="metrics-token-0123456789abcdef0123456789")
    am = write_bundle(tmp_path / "am", settings, only="alertmanager")
    assert set(am.files) == {"alertmanager.yml"}
    assert sorted(p.name for p in (tmp_path / "am").iterdir()) == ["alertmanager.yml"]
    assert stat.S_IMODE((tmp_path / "am" / "alertmanager.yml").stat().st_mode) == 0o600
    full = write_bundle(tmp_path / "full", settings)
    assert (tmp_path / "am" / "alertmanager.yml").read_text() == (
        tmp_path / "full" / "alertmanager.yml"
    ).read_text()
    prom = write_bundle(tmp_path / "prom", settings, only="prometheus")
    assert "alertmanager.yml" not in prom.files
    assert set(prom.files) == set(full.files) - {"alertmanager.yml"}
    with pytest.raises(ValueError, match="unknown export part"):
        write_bundle(tmp_path / "x", settings, only="grafana")  # type: ignore[arg-type]


def test_the_teams_relay_base_can_differ_from_the_external_url() -> None:
    settings = all_channels(alertmanager_relay_url="http://gateway:8000/")
    critical = receiver(build_alertmanager_config(settings).config, "critical")
    assert urls(critical)[0] == "http://gateway:8000" + TEAMS_RELAY_PATH
    assert critical["pagerduty_configs"][0]["client_url"] == "https://glow.example.com"  # people's link


def test_cli_only_alertmanager_to_a_directory_and_to_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATE_LIMIT_ALERT_WEBHOOK", "https://hooks.example.com/rate-limit")
    runner = CliRunner()
    result = runner.invoke(root_app, ["alerts", "export", "--only", "alertmanager", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["alertmanager.yml"]
    assert "alertmanager.yml  (0600)" in result.output

    piped = runner.invoke(root_app, ["alerts", "export", "--only", "alertmanager", "--out", "-"])
    assert piped.exit_code == 0, piped.output
    assert yaml.safe_load(piped.stdout) == yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    assert urls(receiver(yaml.safe_load(piped.stdout), "rate-limit")) == [
        "https://hooks.example.com/rate-limit"
    ]
    assert "left out" in piped.stderr and "left out" not in piped.stdout  # a pipe gets YAML only

    for args in (["--out", "-"], ["--only", "alertmanager", "--out", "-", "--check"]):
        refused = runner.invoke(root_app, ["alerts", "export", *args])
        assert refused.exit_code == 2, refused.output
    assert (
        runner.invoke(root_app, ["alerts", "export", "--only", "grafana", "--out", str(tmp_path)]).exit_code
        == 2
    )
