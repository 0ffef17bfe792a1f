"""``glowops health``, ``glowops monitor`` and ``glowops doctor`` against an app served by uvicorn."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from health_helpers import FakeSaaS, closed_port, make_app, serve, settings_with

from glowops.cli import app as cli
from peers import free_port

runner = CliRunner()

_ENV = (
    "DATABASE_URL",
    "GLOWOPS_DATABASE_URL",
    "REDIS_URL",
    "GLOWOPS_REDIS_URL",
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_KEY",
    "OPENAI_API_KEY",
    "GLOWOPS_OPS_TOKEN",
    "GLOWOPS_DATA_DIR",
    "GLOWOPS_STATE_DIR",
    "GLOWOPS_APP",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def healthy_url(base_settings: dict[str, object]) -> Iterator[str]:
    app, _ = make_app(settings_with(base_settings))
    with serve(app) as url:
        yield url


def test_health_exits_0_and_prints_the_checks_when_healthy(
    healthy_url: str, clean_env: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(cli, ["health", "--url", healthy_url])
    assert result.exit_code == 0, result.output
    assert "healthy" in result.output
    assert "database" in result.output and "disk" in result.output


def test_health_json_and_exit_2_when_a_critical_dependency_is_down(
    base_settings: dict[str, object], clean_env: pytest.MonkeyPatch
) -> None:
    app, _ = make_app(settings_with(base_settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0"))
    with serve(app) as url:
        result = runner.invoke(cli, ["health", "--url", url, "--json"])
        ready = runner.invoke(cli, ["health", "--url", url, "--path", "/health/ready"])
        live = runner.invoke(cli, ["health", "--url", url, "--path", "/health/live"])
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["status_code"] == 503
    assert report["body"]["checks"]["redis"]["output"] == "connection refused"
    assert ready.exit_code == 2
    assert live.exit_code == 0


def test_health_exits_1_when_degraded(
    base_settings: dict[str, object], saas: FakeSaaS, clean_env: pytest.MonkeyPatch
) -> None:
    saas.set("/v1/models", 500)
    app, _ = make_app(settings_with(base_settings, openai_api_key="sk-x", openai_base_url=saas.url + "/v1"))
    with serve(app) as url:
        result = runner.invoke(cli, ["health", "--url", url])
    assert result.exit_code == 1, result.output
    assert "degraded" in result.output and "unexpected status 500" in result.output


def test_health_uses_the_token_for_details(
    base_settings: dict[str, object], clean_env: pytest.MonkeyPatch
) -> None:
    app, _ = make_app(settings_with(base_settings, ops_token="cli-token-0123456789abcdef0123456789"))
    with serve(app) as url:
        without = runner.invoke(cli, ["health", "--url", url, "--json"])
        with_token = runner.invoke(
            cli, ["health", "--url", url, "--json", "--token", "cli-token-0123456789abcdef0123456789"]
        )
        clean_env.setenv("GLOWOPS_OPS_TOKEN", "cli-token-0123456789abcdef0123456789")
        from_env = runner.invoke(cli, ["health", "--url", url, "--json"])
    assert "checks" not in json.loads(without.stdout)["body"]
    assert "database" in json.loads(with_token.stdout)["body"]["checks"]
    assert "database" in json.loads(from_env.stdout)["body"]["checks"]


def test_health_unreachable_and_bad_url(clean_env: pytest.MonkeyPatch) -> None:
    unreachable = runner.invoke(cli, ["health", "--url", f"http://127.0.0.1:{closed_port()}"])
    assert unreachable.exit_code == 2
    assert "unreachable" in unreachable.output and "connection refused" in unreachable.output
    bad = runner.invoke(cli, ["health", "--url", "localhost:8000"])
    assert bad.exit_code == 2
    assert "not an http:// or https:// URL" in bad.output


def test_monitor_probes_every_endpoint_and_logs_one_line_each(
    healthy_url: str, clean_env: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(cli, ["monitor", "--url", healthy_url, "--once"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(line["target"] for line in lines) == ["db", "dependencies", "health"]
    assert all(line["success"] and line["health_status"] == "healthy" for line in lines)
    assert all(line["event"] == "health_probe" and line["duration_seconds"] > 0 for line in lines)


@pytest.mark.anyio
async def test_monitor_probes_each_endpoint_at_its_own_interval(healthy_url: str) -> None:
    """On a virtual clock: /health every 30 s, /health/db every 60 s, /dependencies every 120 s."""
    from glowops.health.monitor import run_monitor, spec_targets

    now = [0.0]
    probed: list[tuple[float, str]] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    def emit(line: str) -> None:
        probed.append((now[0], json.loads(line)["target"]))

    await run_monitor(
        healthy_url,
        spec_targets(30, 60, 120),
        token=None,
        probe_timeout=5,
        iterations=5,
        emit=emit,
        clock=lambda: now[0],
        sleep=sleep,
    )
    at = {target: [t for t, name in probed if name == target] for target in ("health", "db", "dependencies")}
    assert at == {"health": [0, 30, 60, 90, 120], "db": [0, 60, 120], "dependencies": [0, 120]}


def test_monitor_once_exits_1_on_failure(clean_env: pytest.MonkeyPatch) -> None:
    result = runner.invoke(cli, ["monitor", "--url", f"http://127.0.0.1:{closed_port()}", "--once"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and all(line["error"] == "connection refused" for line in lines)


def test_monitor_serves_probe_metrics(healthy_url: str, clean_env: pytest.MonkeyPatch) -> None:
    port = free_port()
    outcome: dict[str, int] = {}

    def run() -> None:
        outcome["code"] = runner.invoke(
            cli,
            [
                "monitor",
                "--url",
                healthy_url,
                "--health-interval",
                "0.1",
                "--db-interval",
                "0.1",
                "--dependencies-interval",
                "0.1",
                "--iterations",
                "20",
                "--metrics-port",
                str(port),
            ],
        ).exit_code

    thread = threading.Thread(target=run)
    thread.start()
    text = ""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and 'glowops_probe_success{target="dependencies"} 1.0' not in text:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        except httpx.HTTPError:
            time.sleep(0.05)
    thread.join(10)
    assert outcome.get("code") == 0
    assert 'glowops_probe_success{target="dependencies"} 1.0' in text
    assert 'glowops_probe_duration_seconds{target="health"}' in text


@pytest.mark.postgres
@pytest.mark.redis
def test_doctor_exit_codes(
    clean_env: pytest.MonkeyPatch, pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The gateway's declared checks, through GLOWOPS_APP, as in its container."""
    clean_env.setenv("GLOWOPS_APP", "prisma_glow_gateway.app:create_app")
    clean_env.setenv("DATABASE_URL", pg_url)
    clean_env.setenv("REDIS_URL", redis_url)
    clean_env.setenv("GLOWOPS_STATE_DIR", str(tmp_path))
    fine = runner.invoke(cli, ["doctor", "--json"])
    assert fine.exit_code == 0, fine.output
    parts = {p["part"]: p for p in json.loads(fine.stdout)["parts"]}
    assert parts["database"]["status"] == "pass" and parts["redis"]["status"] == "pass"
    assert "supabase" not in parts  # not configured, so not declared

    table = runner.invoke(cli, ["doctor"])
    assert table.exit_code == 0 and "all required parts are fine" in table.output

    clean_env.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    broken = runner.invoke(cli, ["doctor", "--json"])
    assert broken.exit_code == 1
    parts = {p["part"]: p for p in json.loads(broken.stdout)["parts"]}
    assert parts["redis"] == {
        **parts["redis"],
        "status": "fail",
        "required": True,
        "message": "connection refused",
    }

    clean_env.setenv("OPENAI_API_KEY", "sk-x")
    clean_env.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    clean_env.setenv("REDIS_URL", redis_url)
    optional_down = runner.invoke(cli, ["doctor", "--json"])
    assert optional_down.exit_code == 0, optional_down.output  # OpenAI is not required

    clean_env.setenv("DATABASE_URL", "mysql://nope")
    invalid = runner.invoke(cli, ["doctor"])
    assert invalid.exit_code == 2
    assert "DATABASE_URL" in invalid.output and "Traceback" not in invalid.output


def test_doctor_without_an_app_checks_what_glowops_owns(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("GLOWOPS_STATE_DIR", str(tmp_path))
    done = runner.invoke(cli, ["doctor", "--json"])
    assert done.exit_code == 0, done.output
    parts = {p["part"]: p for p in json.loads(done.stdout)["parts"]}
    assert set(parts) == {"configuration", "disk"}  # no database is guessed, no backup configured
    wrong = runner.invoke(cli, ["doctor", "--app", "no_such_module:app"])
    assert wrong.exit_code == 2 and "cannot import 'no_such_module'" in wrong.output
