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
from click.testing import CliRunner

from glowops.cli import app
from glowops.deploy import check as c
from glowops.deploy import render as r
from glowops.deploy.spec import ServiceSpec, load_spec
from glowops.settings import Settings
from peers import require_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SPEC: ServiceSpec = load_spec(DEPLOY)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return c.read_bundle(DEPLOY)


@pytest.fixture(scope="module")
def routes() -> set[str]:
    return c.app_routes(SPEC)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return r.bundle_settings(SPEC)


def test_checked_in_bundle_equals_a_fresh_render(files: dict[str, str]) -> None:
    rendered = r.render(SPEC)
    assert c.check_drift(files, rendered.files) == []
    assert set(rendered.files) <= set(files)


def test_render_ignores_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOWOPS_SCRAPE_INTERVAL_SECONDS", "3")
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:hunter2@elsewhere/db")
    assert r.render(SPEC).files == r.render(SPEC, r.bundle_settings(SPEC)).files
    assert "hunter2" not in json.dumps(r.render(SPEC).files)


def test_cross_checks_pass(files: dict[str, str], settings: Settings, routes: set[str]) -> None:
    assert {"/health/live", "/health/ready", "/metrics"} <= routes
    assert c.check_compose(files, SPEC, settings, routes) == []
    assert c.check_k8s(files, SPEC, settings, routes) == []


def test_scale_out_settings_as_the_gateway_reads_them(files: dict[str, str]) -> None:
    compose = yaml.safe_load(files["docker-compose.yml"])
    env = dict(compose["services"]["gateway"]["environment"])
    configmap = yaml.safe_load(files["k8s/configmap.yaml"])["data"]
    for source in (env, configmap):
        plain = {k: v for k, v in source.items() if "${" not in str(v)}
        parsed = c.settings_from_env(plain, SPEC.settings_class())
        assert parsed.embedded_alerting is False
        assert parsed.redis_url == "redis://redis:6379/0"  # the gateway's own setting
        assert parsed.effective_otlp_traces_endpoint == "http://otel-collector:4318/v1/traces"
        assert parsed.port == 8000
    # Least privilege: the gateway, its migrations, the backup and the drill each have a role;
    # the superuser only creates them (db-roles), before the migrations run.
    assert env["DATABASE_URL"].startswith("postgresql://glowops_gateway:${GLOWOPS_DB_GATEWAY_PASSWORD:?")
    services = compose["services"]
    migrate_url = services["migrate"]["environment"]["GLOWOPS_MIGRATION_DATABASE_URL"]
    assert migrate_url.startswith("postgresql://glowops_owner:${GLOWOPS_DB_OWNER_PASSWORD:?")
    assert services["migrate"]["depends_on"]["db-roles"] == {"condition": "service_completed_successfully"}
    assert services["db-roles"]["command"][:3] == ["db", "roles", "--apply"]
    assert services["db-roles"]["command"][3].startswith("postgresql://postgres:${POSTGRES_PASSWORD:?")
    # The backup jobs run glowops' own command, which reads the database to dump from its setting.
    backup = services["backup"]
    assert backup["entrypoint"] == ["glowops"]
    assert backup["environment"]["GLOWOPS_BACKUP_DATABASE_URL"].startswith("postgresql://glowops_backup:")
    assert backup["environment"]["GLOWOPS_BACKUP_DRILL_URL"].startswith("postgresql://glowops_drill:")
    cron = yaml.safe_load(files["k8s/backup-cronjob.yaml"])
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    url = next(item for item in container["env"] if item["name"] == "GLOWOPS_BACKUP_DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"] == {
        "name": "glowops-gateway",
        "key": "GLOWOPS_BACKUP_DATABASE_URL",
    }


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
        "GLOWOPS_OPS_TOKEN": "t" * 32,
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
        problems = c.check_compose(_mutated(files, path, change), SPEC, settings, routes)
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
        problems = c.check_k8s(_mutated(files, path, change), SPEC, settings, routes)
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
    result = runner.invoke(
        app, ["deploy", "render", "--spec", str(DEPLOY / "service.yaml"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deploy", "check", str(tmp_path), "--no-tools"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "prometheus" / "prometheus.yml"
    path.write_text(path.read_text().replace("gateway:8000", "gateway:8001"))
    result = runner.invoke(app, ["deploy", "check", str(tmp_path), "--no-tools"])
    assert result.exit_code == 1
    assert "prometheus/prometheus.yml: differs from a fresh render" in result.output
    assert "prometheus target gateway:8001 is not a compose service:port" in result.output


def test_the_gateways_commands_are_checked_against_its_own_cli(
    files: dict[str, str], settings: Settings, routes: set[str]
) -> None:
    def serve_typo(d: Any) -> None:
        d["services"]["gateway"]["command"] = ["serv"]

    def migrate_option(d: Any) -> None:
        d["services"]["migrate"]["command"] = ["db", "upgrade", "--everything"]

    for change, expected in (
        (serve_typo, "`prisma-glow-gateway serv` is not a valid command"),
        (migrate_option, "`prisma-glow-gateway db upgrade --everything` is not a valid command"),
    ):
        problems = c.check_compose(_mutated(files, "docker-compose.yml", change), SPEC, settings, routes)
        assert any(expected in p for p in problems), (expected, problems)

    def args(d: Any) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["args"] = ["backup", "run"]  # glowops', not its

    problems = c.check_k8s(_mutated(files, "k8s/deployment.yaml", args), SPEC, settings, routes)
    assert any("`prisma-glow-gateway backup run` is not a valid command" in p for p in problems), problems


WORKER_SPEC = """
name: worker
package: some-worker
app: deploy_worker_app:create_app
settings: glowops.settings:Settings
command: python
serve: [-m, uvicorn, --factory, deploy_worker_app:create_app]
# No database of its own: the one glowops backs up is the bundle's PostgreSQL.
database_env: GLOWOPS_BACKUP_DATABASE_URL
environment:
  GLOWOPS_LOG_LEVEL: INFO
secrets:
  SENTRY_DSN: optional
"""


def test_another_service_gets_its_own_bundle(tmp_path: Path) -> None:
    """Nothing in the bundle assumes the gateway: a service with glowops' plain settings, no
    migrations and another command renders, checks clean, and names itself everywhere."""
    (tmp_path / "service.yaml").write_text(WORKER_SPEC)
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "render", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deploy", "check", str(tmp_path), "--no-tools"])
    assert result.exit_code == 0, result.output
    compose = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    assert "gateway" not in compose["services"] and "migrate" not in compose["services"]
    worker = compose["services"]["worker"]
    assert worker["command"] == ["-m", "uvicorn", "--factory", "deploy_worker_app:create_app"]
    assert worker["environment"]["OTEL_SERVICE_NAME"] == "worker"
    assert worker["environment"]["SENTRY_DSN"] == "${SENTRY_DSN:-}"
    deployment = yaml.safe_load((tmp_path / "k8s" / "deployment.yaml").read_text())
    assert "initContainers" not in deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "glowops-worker"
    prometheus = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["worker:8000"]
    assert 'ENTRYPOINT ["python"]' in (tmp_path / "Dockerfile").read_text()
    assert "--package some-worker" in (tmp_path / "Dockerfile").read_text()
    # A variable the worker's settings do not read is caught (the gateway's REDIS_URL here).
    compose["services"]["worker"]["environment"]["REDIS_URL"] = "redis://redis:6379/0"
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    result = runner.invoke(app, ["deploy", "check", str(tmp_path), "--no-tools"])
    assert result.exit_code == 1
    assert "compose worker: REDIS_URL is not a setting python reads" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: Gateway_1\n", "name: must be a lower-case DNS label"),
        (
            WORKER_SPEC.replace("app: deploy_worker_app:create_app", "app: os.system('x')"),
            "app: must be an import string",
        ),
        (WORKER_SPEC.replace("[-m,", "['$(reboot)', -m,"), "is not a plain command-line argument"),
        (WORKER_SPEC + "extra: 1\n", "extra: Extra inputs are not permitted"),
        ("- a list\n", "must be a mapping"),
        ("name: [\n", "not valid YAML"),
        (
            WORKER_SPEC.replace("glowops.settings:Settings", "glowops.settings:ConfigError"),
            "not a glowops Settings",
        ),
        (WORKER_SPEC.replace("glowops.settings:Settings", "no_such_module_x:Settings"), "cannot import"),
    ],
)
def test_a_bad_spec_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "service.yaml").write_text(text)
    result = CliRunner().invoke(app, ["deploy", "render", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "docker-compose.yml").exists()


def test_render_without_a_spec_says_where_it_looked(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "render", "--out", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "service.yaml: cannot read the service spec" in result.output
