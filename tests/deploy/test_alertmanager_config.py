"""Alertmanager in the compose bundle: rendered at start-up from .env by the alertmanager-config
one-shot (the real CLI, as the container runs it), into a volume Alertmanager mounts read-only.

What an operator would check: with every channel set in .env the file has every integration
(PagerDuty, Slack, Teams, the spec's four webhooks, e-mail) and passes the real amtool; with none
set it is still valid; the file is 0600; the compose wiring (volume, read-only mount, dependency,
user, Alertmanager version) holds, and the cross-checks catch each way of breaking it.
"""

from __future__ import annotations

import copy
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from glowops.alerting.channels import TEAMS_RELAY_PATH
from glowops.cli import app
from glowops.deploy import check as c
from glowops.deploy import render as r
from glowops.deploy.spec import ServiceSpec, load_spec
from peers import require_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SPEC: ServiceSpec = load_spec(DEPLOY)
GLOWOPS = [sys.executable, "-c", "from glowops.cli import main; main()"]


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return c.read_bundle(DEPLOY)


@pytest.fixture(scope="module")
def compose(files: dict[str, str]) -> dict[str, Any]:
    return dict(yaml.safe_load(files["docker-compose.yml"]))


@pytest.fixture(scope="module")
def routes() -> set[str]:
    return c.app_routes(SPEC)


def run_one_shot(
    compose: dict[str, Any], dotenv: dict[str, str], volume: Path
) -> subprocess.CompletedProcess[str]:
    """Run the one-shot's command with its environment as compose would resolve it from ``dotenv``.

    Only that environment (no inherited GLOWOPS_* variable), ``--out`` pointed at ``volume``.
    """
    service = compose["services"][r.ALERTMANAGER_CONFIG]
    env = {name: c.interpolate(str(value), dotenv) for name, value in service["environment"].items()}
    command = [str(word) for word in service["command"]]
    command[command.index("--out") + 1] = str(volume)
    return subprocess.run(
        [*GLOWOPS, *command],
        env={"PATH": "/usr/bin:/bin", "HOME": str(volume.parent), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def amtool_check(directory: Path) -> subprocess.CompletedProcess[str]:
    amtool = require_binary("amtool")
    return subprocess.run(
        [amtool, "check-config", "alertmanager.yml"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
    )


def receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(rcv for rcv in config["receivers"] if rcv["name"] == name)


def hook_urls(rcv: dict[str, Any]) -> list[str]:
    return [hook["url"] for hook in rcv.get("webhook_configs", [])]


@pytest.mark.alertmanager
def test_every_channel_in_env_reaches_the_rendered_file_and_amtool_accepts_it(
    tmp_path: Path, compose: dict[str, Any]
) -> None:
    volume = tmp_path / "alertmanager-config"
    result = run_one_shot(compose, c.EXAMPLE_ENV, volume)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left out" not in result.stderr and "no channel configured" not in result.stderr
    rendered = volume / "alertmanager.yml"
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o600
    config = yaml.safe_load(rendered.read_text())
    env = c.EXAMPLE_ENV

    relay = f"http://gateway:8000{TEAMS_RELAY_PATH}"  # Alertmanager 0.27 has no msteamsv2
    critical = receiver(config, "critical")
    assert critical["pagerduty_configs"][0]["routing_key"] == env["GLOWOPS_PAGERDUTY_ROUTING_KEY"]
    assert critical["pagerduty_configs"][0]["url"] == env["GLOWOPS_PAGERDUTY_EVENTS_URL"]
    assert critical["slack_configs"][0]["api_url"] == env["GLOWOPS_SLACK_WEBHOOK_URL"]
    assert hook_urls(critical) == [relay, env["ERROR_NOTIFY_WEBHOOK"]]
    assert (
        critical["webhook_configs"][0]["http_config"]["authorization"]["credentials"]
        == env["GLOWOPS_OPS_TOKEN"]
    )
    warning = receiver(config, "warning")
    assert warning["slack_configs"][0]["api_url"] == env["GLOWOPS_SLACK_WEBHOOK_URL"]
    assert hook_urls(warning) == [relay, env["TELEMETRY_ALERT_WEBHOOK"]]
    assert hook_urls(receiver(config, "rate-limit")) == [env["RATE_LIMIT_ALERT_WEBHOOK"]]
    assert hook_urls(receiver(config, "embedding")) == [env["EMBEDDING_ALERT_WEBHOOK"]]
    assert receiver(config, "info")["email_configs"][0]["to"] == "oncall@example.com, ops@example.com"
    assert config["global"]["smtp_smarthost"] == "smtp.example.com:587"
    assert config["global"]["smtp_auth_password"] == env["GLOWOPS_SMTP_PASSWORD"]
    assert config["global"]["smtp_require_tls"] is True
    # The same file `deploy check` validates in memory, so the two cannot drift apart.
    assert config == c.example_alertmanager_config(compose)[0]

    checked = amtool_check(volume)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.alertmanager
def test_an_env_without_channels_still_renders_a_valid_file(tmp_path: Path, compose: dict[str, Any]) -> None:
    volume = tmp_path / "alertmanager-config"
    result = run_one_shot(compose, {"GLOWOPS_OPS_TOKEN": "t" * 32, "GLOWOPS_SMTP_PORT": ""}, volume)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR_NOTIFY_WEBHOOK left out" in result.stderr
    config = yaml.safe_load((volume / "alertmanager.yml").read_text())
    assert receiver(config, "rate-limit") == {"name": "rate-limit"}
    checked = amtool_check(volume)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with pytest.raises(ValueError, match=r"GLOWOPS_OPS_TOKEN: set GLOWOPS_OPS_TOKEN in deploy/\.env"):
        run_one_shot(compose, {}, volume)  # compose refuses to start, as it would


def test_compose_wires_volume_dependency_user_and_version(
    compose: dict[str, Any], files: dict[str, str]
) -> None:
    services = compose["services"]
    one_shot, alertmanager = services[r.ALERTMANAGER_CONFIG], services[r.ALERTMANAGER]
    assert one_shot["image"] == services["gateway"]["image"]
    assert one_shot["command"] == [
        "alerts",
        "export",
        "--only",
        "alertmanager",
        "--out",
        "/etc/glowops/alertmanager",
    ]
    assert one_shot["volumes"] == ["alertmanager-config:/etc/glowops/alertmanager"]
    assert one_shot["restart"] == "no" and one_shot["network_mode"] == "none"
    assert "alertmanager-config:/etc/glowops/alertmanager:ro" in alertmanager["volumes"]
    assert "--config.file=/etc/glowops/alertmanager/alertmanager.yml" in alertmanager["command"]
    assert alertmanager["depends_on"] == {
        r.ALERTMANAGER_CONFIG: {"condition": "service_completed_successfully"}
    }
    assert one_shot["user"] == alertmanager["user"] == "65534:65534"
    assert "alertmanager-config" in compose["volumes"]
    assert alertmanager["image"] == "prom/alertmanager:v0.27.0"
    assert one_shot["environment"]["GLOWOPS_ALERTMANAGER_VERSION"] == "0.27.0"
    # Every channel comes from .env under the name Settings reads, and nothing secret is inline.
    for variable in r.ALERT_CHANNEL_ENV:
        assert one_shot["environment"][variable].startswith(f"${{{variable}:-"), variable
        assert f"\n{variable}=\n" in files[".env.example"]
    # The rendered file is not in the bundle any more, and no bind mount points at it.
    assert not any(name.startswith("alertmanager/") for name in files)
    assert not any(str(v).startswith("./alertmanager") for v in alertmanager["volumes"])
    # The image prepares the volume's mount point for that user (the empty volume copies it).
    assert "chown 65534:65534 /etc/glowops/alertmanager && chmod 0700" in files["Dockerfile"]


def test_a_compose_alertmanager_with_msteamsv2_gets_msteamsv2(compose: dict[str, Any]) -> None:
    newer = copy.deepcopy(compose)
    newer["services"][r.ALERTMANAGER_CONFIG]["environment"]["GLOWOPS_ALERTMANAGER_VERSION"] = "0.28.1"
    config, warnings = c.example_alertmanager_config(newer)
    assert warnings == []
    teams = receiver(config, "warning")["msteamsv2_configs"][0]
    assert teams["webhook_url"] == c.EXAMPLE_ENV["GLOWOPS_TEAMS_WEBHOOK_URL"]
    assert not any(TEAMS_RELAY_PATH in url for url in hook_urls(receiver(config, "warning")))


def _broken(compose: dict[str, Any], change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(compose)
    change(broken["services"])
    return broken


def test_cross_checks_catch_broken_alertmanager_wiring(
    compose: dict[str, Any], files: dict[str, str], routes: set[str]
) -> None:
    settings = r.bundle_settings(SPEC)
    assert c.check_compose(files, SPEC, settings, routes) == []

    def started(s: Any) -> None:
        s["alertmanager"]["depends_on"]["alertmanager-config"]["condition"] = "service_started"

    def writable(s: Any) -> None:
        s["alertmanager"]["volumes"][0] = "alertmanager-config:/etc/glowops/alertmanager"

    def other_file(s: Any) -> None:
        s["alertmanager"]["command"][0] = "--config.file=/etc/alertmanager/alertmanager.yml"

    def dropped_channel(s: Any) -> None:
        del s["alertmanager-config"]["environment"]["RATE_LIMIT_ALERT_WEBHOOK"]

    def version(s: Any) -> None:
        s["alertmanager"]["image"] = "prom/alertmanager:v0.28.1"

    def user(s: Any) -> None:
        del s["alertmanager"]["user"]

    def relay(s: Any) -> None:
        s["alertmanager-config"]["environment"]["GLOWOPS_ALERTMANAGER_RELAY_URL"] = "http://localhost:8000"

    def unlisted(s: Any) -> None:
        s["alertmanager-config"]["environment"]["GLOWOPS_SMTP_HOST"] = "${SMTP_SERVER:-}"

    def bad_option(s: Any) -> None:
        s["alertmanager-config"]["command"][2] = "--just"

    cases = [
        (started, "depends_on alertmanager-config should use condition service_completed_successfully"),
        (writable, "alertmanager: the volume alertmanager-config is not mounted read-only"),
        (other_file, "is not the alertmanager.yml that alertmanager-config writes"),
        (dropped_channel, "with every channel set in .env, alert channel RATE_LIMIT_ALERT_WEBHOOK left out"),
        (version, "GLOWOPS_ALERTMANAGER_VERSION '0.27.0' is not the version of prom/alertmanager:v0.28.1"),
        (user, "runs as another user than alertmanager"),
        (relay, "the Teams relay http://localhost:8000/ops/alertmanager/teams is not the gateway service"),
        (unlisted, "SMTP_SERVER is not listed in .env.example"),
        (bad_option, "does not run `glowops alerts export --only alertmanager --out DIR`"),
    ]
    for change, expected in cases:
        broken = {**files, "docker-compose.yml": yaml.safe_dump(_broken(compose, change))}
        problems = c.check_compose(broken, SPEC, settings, routes)
        assert any(expected in p for p in problems), (expected, problems)


def test_interpolate_follows_compose() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert c.interpolate("${SET:-d}/${EMPTY:-d}/${UNSET:-d}", env) == "v/d/d"
    assert c.interpolate("${EMPTY-d}/${UNSET-d}/${SET}", env) == "/d/v"
    assert c.interpolate("x${UNSET}y", env) == "xy"
    with pytest.raises(ValueError, match="EMPTY: needed"):
        c.interpolate("${EMPTY:?needed}", env)
    assert c.interpolate("${EMPTY?needed}", env) == ""
    assert c.referenced_variables("postgresql://u:${PW:?x}@h/${DB}") == {"PW", "DB"}


def test_render_removes_the_old_generated_alertmanager_file_only(tmp_path: Path) -> None:
    old = tmp_path / "alertmanager" / "alertmanager.yml"
    old.parent.mkdir()
    old.write_text(f"# {r.HEADER}\nroute: {{}}\n")
    assert any("no longer part of the bundle" in p for p in c.check_drift(c.read_bundle(tmp_path), {}))
    runner = CliRunner()
    result = runner.invoke(
        app, ["deploy", "render", "--spec", str(DEPLOY / "service.yaml"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert not old.exists() and not old.parent.exists()
    # A file an operator wrote there by hand is theirs: kept.
    old.parent.mkdir()
    old.write_text("route: {receiver: mine}\n")
    assert (
        runner.invoke(
            app, ["deploy", "render", "--spec", str(DEPLOY / "service.yaml"), "--out", str(tmp_path)]
        ).exit_code
        == 0
    )
    assert old.read_text() == "route: {receiver: mine}\n"


@pytest.mark.alertmanager
@pytest.mark.prometheus
def test_deploy_check_runs_amtool_on_the_example_render(tmp_path: Path) -> None:
    require_binary("amtool")
    require_binary("promtool")
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["deploy", "render", "--spec", str(DEPLOY / "service.yaml"), "--out", str(tmp_path)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["deploy", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
