"""The scale-out bundle (deploy/): no drift from the catalogs, valid for the real tools, and its
ports, paths, names, variables and commands agree with the gateway itself. Alertmanager's
configuration, rendered at start-up by a one-shot, is tested in test_alertmanager_config.py."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from glowops.cli import app
from glowops.deploy import check as c
from glowops.deploy import render as r
from glowops.settings import Settings
from peers import require_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return c.read_bundle(DEPLOY)


@pytest.fixture(scope="module")
def routes() -> set[str]:
    return c.app_routes()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return r.bundle_settings()


def test_checked_in_bundle_equals_a_fresh_render(files: dict[str, str]) -> None:
    rendered = r.render()
    assert c.check_drift(files, rendered.files) == []
    assert set(rendered.files) <= set(files)


def test_render_ignores_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOWOPS_SCRAPE_INTERVAL_SECONDS", "3")
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:hunter2@elsewhere/db")
    assert r.render().files == r.render(r.bundle_settings()).files
    assert "hunter2" not in json.dumps(r.render().files)


def test_cross_checks_pass(files: dict[str, str], settings: Settings, routes: set[str]) -> None:
    assert {"/health/live", "/health/ready", "/metrics"} <= routes
    assert c.check_compose(files, settings, routes) == []
    assert c.check_k8s(files, settings, routes) == []


def test_scale_out_settings_as_the_gateway_reads_them(files: dict[str, str]) -> None:
    compose = yaml.safe_load(files["docker-compose.yml"])
    env = dict(compose["services"]["gateway"]["environment"])
    configmap = yaml.safe_load(files["k8s/configmap.yaml"])["data"]
    for source in (env, configmap):
        plain = {k: v for k, v in source.items() if "${" not in str(v)}
        parsed = Settings(
            _env_file=None,
            **{  # type: ignore[call-arg]
                c_field: value for c_field, value in _fields(plain).items()
            },
        )
        assert parsed.embedded_alerting is False
        assert parsed.redis_url == "redis://redis:6379/0"
        assert parsed.effective_otlp_traces_endpoint == "http://otel-collector:4318/v1/traces"
        assert parsed.port == 8000
    assert env["DATABASE_URL"].startswith("postgresql://glowops:${POSTGRES_PASSWORD:?")


def _fields(env: dict[str, Any]) -> dict[str, Any]:
    """Environment names -> Settings field names (through the aliases)."""
    from glowops.settings import _field_for

    out = {}
    for name, value in env.items():
        field = _field_for(Settings, name)
        assert field is not None, name
        out[field] = value
    return out


@pytest.mark.prometheus
def test_promtool_accepts_the_prometheus_files(tmp_path: Path, files: dict[str, str]) -> None:
    promtool = require_binary("promtool")
    prom = DEPLOY / "prometheus"
    # Full check (credentials file included) on a copy whose token path exists here.
    config = yaml.safe_load(files["prometheus/prometheus.yml"])
    token = tmp_path / "ops_token"
    token.write_text("t")
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    for name in ("recording_rules.yml", "alerting_rules.yml"):
        shutil.copy(prom / name, tmp_path / name)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rules found" not in result.stdout  # both rule files were loaded, with all their rules
    result = subprocess.run(
        [promtool, "check", "rules", "recording_rules.yml", "alerting_rules.yml"],
        cwd=prom,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = sum(len(g["rules"]) for g in yaml.safe_load(files["prometheus/alerting_rules.yml"])["groups"])
    assert f"SUCCESS: {alerts} rules found" in result.stdout


def test_compose_file_matches_the_compose_specification(files: dict[str, str]) -> None:
    import jsonschema

    schema_file = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(files["docker-compose.yml"]), schema)
    broken = yaml.safe_load(files["docker-compose.yml"])
    broken["services"]["gateway"]["depends_on"]["redis"]["condition"] = "whenever"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_docker_compose_config_when_available() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed (the schema test above still validates the file)")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        # Not a peer of the suite (CI need not have it): the compose plugin is optional.
        pytest.skip("the docker compose plugin is not installed here")
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "POSTGRES_PASSWORD": "p",
        "GLOWOPS_OPS_TOKEN": "t",
        "GLOWOPS_SECRET_KEY": "k",
        "GRAFANA_ADMIN_PASSWORD": "g",
    }
    result = subprocess.run(
        [docker, "compose", "-f", "docker-compose.yml", "config", "--quiet"],
        cwd=DEPLOY,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_collector_config_holds_together(files: dict[str, str]) -> None:
    config = yaml.safe_load(files["otel-collector/config.yaml"])
    assert c.check_collector_config(config) == []
    assert config["service"]["pipelines"]["traces"]["processors"][-1] == "batch"
    broken = copy.deepcopy(config)
    broken["service"]["pipelines"]["traces"]["exporters"] = ["otlp/tempo"]
    problems = c.check_collector_config(broken)
    assert any("undefined exporter otlp/tempo" in p for p in problems)
    assert any("otlp/jaeger is defined but in no pipeline" in p for p in problems)


def _mutated(files: dict[str, str], path: str, change: Any) -> dict[str, str]:
    data = yaml.safe_load(files[path])
    change(data)
    return {**files, path: yaml.safe_dump(data)}


def test_cross_checks_catch_disagreements(
    files: dict[str, str], settings: Settings, routes: set[str]
) -> None:
    def target(d: Any) -> None:
        d["scrape_configs"][0]["static_configs"][0]["targets"] = ["gateway:9000"]

    def env_var(d: Any) -> None:
        d["services"]["gateway"]["environment"]["GLOWOPS_EMBEDDED_ALERTS"] = "false"  # a typo

    def inline_secret(d: Any) -> None:
        d["services"]["gateway"]["environment"]["GLOWOPS_OPS_TOKEN"] = "s3cret"

    def grafana_mount(d: Any) -> None:
        d["services"]["grafana"]["volumes"][1] = "./grafana/dashboards:/var/lib/grafana/dashboards"

    def otlp_port(d: Any) -> None:
        d["services"]["gateway"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector:4317"

    cases = [
        ("prometheus/prometheus.yml", target, "is not a compose service:port"),
        ("docker-compose.yml", env_var, "GLOWOPS_EMBEDDED_ALERTS is not a setting"),
        ("docker-compose.yml", inline_secret, "GLOWOPS_OPS_TOKEN holds a secret value inline"),
        ("docker-compose.yml", grafana_mount, "provider path"),
        ("docker-compose.yml", otlp_port, "collector listens on HTTP port 4318"),
    ]
    for path, change, expected in cases:
        problems = c.check_compose(_mutated(files, path, change), settings, routes)
        assert any(expected in p for p in problems), (expected, problems)

    def probe(d: Any) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] = "/healthz"

    def drill(d: Any) -> None:
        script = "glowops backup drill\n"
        d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1] = script

    def secret_value(d: Any) -> None:
        d["data"]["GLOWOPS_OPS_TOKEN"] = "s3cret"

    k8s_cases = [
        ("k8s/deployment.yaml", probe, "livenessProbe path /healthz"),
        ("k8s/drill-cronjob.yaml", drill, "`glowops backup drill` is not a valid command"),
        ("k8s/configmap.yaml", secret_value, "GLOWOPS_OPS_TOKEN is a secret"),
    ]
    for path, change, expected in k8s_cases:
        problems = c.check_k8s(_mutated(files, path, change), settings, routes)
        assert any(expected in p for p in problems), (expected, problems)


def test_cronjobs_run_real_commands(files: dict[str, str]) -> None:
    backup = yaml.safe_load(files["k8s/backup-cronjob.yaml"])
    drill = yaml.safe_load(files["k8s/drill-cronjob.yaml"])

    def script(doc: Any) -> str:
        return str(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1])

    assert [w[:2] for w in c.script_commands(script(backup))] == [
        ["backup", "run"],
        ["backup", "verify"],
        ["backup", "prune"],
    ]
    assert c.script_commands(script(drill))[0][:2] == ["backup", "verify"]
    assert "--no-drill" not in script(drill)  # the monthly drill really restores
    assert drill["spec"]["schedule"].split()[2] == "1"  # day of month: monthly
    for words in c.script_commands(script(backup)) + c.script_commands(script(drill)):
        assert c.command_problems(words) is None


def test_cli_render_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "render", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deploy", "check", str(tmp_path), "--no-tools"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "prometheus" / "prometheus.yml"
    path.write_text(path.read_text().replace("gateway:8000", "gateway:8001"))
    result = runner.invoke(app, ["deploy", "check", str(tmp_path), "--no-tools"])
    assert result.exit_code == 1
    assert "prometheus/prometheus.yml: differs from a fresh render" in result.output
    assert "prometheus target gateway:8001 is not a compose service:port" in result.output
