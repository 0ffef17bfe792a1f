"""send_test_error, release resolution, `glowops release`, the diagnostic routes, setup rules."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from errors_helpers import Reporting
from fastapi import FastAPI
from sentry_server import SentryServer

from glowops.release_cli import app as release_app
from glowops.settings import Settings
from glowops.telemetry import errors
from glowops.telemetry.diagnostics import mount_diagnostics
from peers import free_port

pytestmark = pytest.mark.anyio


# --- send_test_error ------------------------------------------------------------------------------
def test_send_test_error_reports_acceptance(sentry_server: SentryServer) -> None:
    ok, message = errors.send_test_error(Settings(sentry_dsn=sentry_server.dsn))
    assert ok, message
    assert "accepted" in message and "publickey" not in message  # the DSN key is never echoed
    [event] = sentry_server.events
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    assert event["tags"]["glowops.test"] == "doctor"
    assert sentry_server.auth_headers[0].startswith("Sentry sentry_key=publickey")
    assert sentry_server.projects == ["1"]


def test_send_test_error_reports_refusal(sentry_server: SentryServer) -> None:
    sentry_server.status = 401
    ok, message = errors.send_test_error(Settings(sentry_dsn=sentry_server.dsn))
    assert not ok and "refused" in message and "HTTP 401" in message


def test_send_test_error_reports_unreachable_and_missing_dsn() -> None:
    ok, message = errors.send_test_error(Settings(sentry_dsn=f"http://k@127.0.0.1:{free_port()}/1"))
    assert not ok and "could not reach" in message
    ok, message = errors.send_test_error(Settings())
    assert not ok and "no Sentry DSN" in message


def test_send_test_error_leaves_the_process_client_alone(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    import sentry_sdk

    reporting_app(FastAPI())
    before = sentry_sdk.get_client()
    assert errors.send_test_error(Settings(sentry_dsn=sentry_server.dsn))[0]
    assert sentry_sdk.get_client() is before and before.is_active()


# --- setup rules ------------------------------------------------------------------------------------
def test_no_dsn_no_sentry() -> None:
    assert errors.create_hook(Settings()) is None


def test_gateway_dsn_wins_and_options_are_trimmed(sentry_server: SentryServer) -> None:
    settings = Settings(
        service_name="gateway",
        gateway_sentry_dsn=sentry_server.dsn,
        sentry_dsn="https://other@sentry.example.com/9",
        sentry_release="r1",
    )
    scrubber = errors._scrubber(settings)
    options = errors.sentry_options(settings, settings.effective_sentry_dsn or "", scrubber)
    assert options["dsn"] == sentry_server.dsn
    assert options["traces_sample_rate"] is None  # traces go through OpenTelemetry
    assert options["auto_enabling_integrations"] is False
    assert options["max_request_body_size"] == "never" and options["include_local_variables"] is True
    try:
        errors.setup_error_tracking(settings)
        import sentry_sdk

        installed = set(sentry_sdk.get_client().integrations)
        assert not installed & {"starlette", "fastapi", "httpx", "sqlalchemy", "redis"}
    finally:
        errors.close_error_tracking()


def test_release_from_git_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert errors.resolve_release(Settings(sentry_release="v7")) == "v7"
    revision = errors.resolve_release(Settings())
    assert revision is not None and len(revision) >= 7  # this checkout's short revision
    monkeypatch.chdir(tmp_path)  # not a git checkout: no release, no error
    assert errors.resolve_release(Settings()) is None


# --- glowops release ---------------------------------------------------------------------------------
class _ReleaseAPI(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str, dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        _ReleaseAPI.calls.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        version = body.get("version", "v1")
        out = json.dumps(
            {
                "version": version,
                "shortVersion": version,
                "dateCreated": "2025-01-01T00:00:00Z",
                "dateReleased": None,
                "newGroups": 0,
                "projects": [],
                "lastEvent": None,
                "url": None,
                "ref": None,
                "commitCount": 0,
                "authors": [],
            }
        ).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = do_PUT = do_GET = _answer


@pytest.fixture
def release_api() -> Iterator[str]:
    _ReleaseAPI.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReleaseAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sentry_env(monkeypatch: pytest.MonkeyPatch, release_api: str) -> str:
    monkeypatch.setenv("SENTRY_URL", release_api)
    monkeypatch.setenv("SENTRY_ORG", "glow")
    monkeypatch.setenv("SENTRY_PROJECT", "gateway")
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", "sntrys_token_never_printed")
    monkeypatch.setenv("SENTRY_RELEASE", "v1.2.3")
    return release_api


def test_release_dry_run_prints_the_spec_commands_with_the_token_masked(sentry_env: str) -> None:
    runner = CliRunner()
    commands = (["create"], ["set-commits"], ["finalize", "v2"], ["set-commits", "--commit", "glow/api@a..b"])
    outputs = [runner.invoke(release_app, [*args, "--dry-run"]) for args in commands]
    assert all(result.exit_code == 0 for result in outputs), [r.output for r in outputs]
    lines = [result.output.strip() for result in outputs]
    head = (
        f"SENTRY_AUTH_TOKEN=***REDACTED*** sentry-cli --url {sentry_env} releases "
        "--org glow --project gateway"
    )
    assert lines == [
        f"{head} new v1.2.3",
        f"{head} set-commits v1.2.3 --auto",
        f"{head} finalize v2",
        f"{head} set-commits v1.2.3 --commit glow/api@a..b",
    ]
    assert _ReleaseAPI.calls == []  # nothing ran


def test_release_create_and_finalize_run_the_real_sentry_cli(sentry_env: str) -> None:
    runner = CliRunner()
    created = runner.invoke(release_app, ["create"])
    finalized = runner.invoke(release_app, ["finalize"])
    assert created.exit_code == 0 and finalized.exit_code == 0, created.output + finalized.output
    assert "sntrys_token_never_printed" not in created.output + finalized.output
    (m1, path1, auth1, body1), (m2, path2, _, body2) = _ReleaseAPI.calls
    assert (m1, path1) == ("POST", "/api/0/organizations/glow/releases/")
    assert body1["version"] == "v1.2.3" and body1["projects"] == ["gateway"]
    assert auth1 == "Bearer sntrys_token_never_printed"  # given to sentry-cli through its environment
    assert (m2, path2) == ("PUT", "/api/0/organizations/glow/releases/v1.2.3/") and "dateReleased" in body2


def test_release_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SENTRY_ORG", "SENTRY_PROJECT", "SENTRY_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(release_app, ["create", "v1"])
    assert result.exit_code != 0
    assert "SENTRY_ORG, SENTRY_PROJECT and SENTRY_AUTH_TOKEN" in result.output


# --- diagnostics ---------------------------------------------------------------------------------------
async def test_diagnostic_routes_raise_and_sleep(
    sentry_server: SentryServer, reporting_app: Callable[..., Reporting]
) -> None:
    from glowops.ops_guard import OpsGuard
    from glowops.settings import Settings

    token = "diagnostics-token-0123456789abcdef"
    app = FastAPI()
    guard = OpsGuard(Settings(ops_token=token))  # type: ignore[call-arg]
    mount_diagnostics(app, guard)
    mount_diagnostics(app, guard)  # idempotent
    reporting = reporting_app(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.get("/diagnostics/error")  # behind the ops token, loopback or not
        client.headers["Authorization"] = f"Bearer {token}"
        failed = await client.get("/diagnostics/error")
        slow = await client.get("/diagnostics/slow", params={"seconds": "0.2"})
        bad = await client.get("/diagnostics/slow", params={"seconds": "99"})
    assert refused.status_code == 401
    assert failed.status_code == 500 and "password" not in failed.text  # no exception text in answers
    assert slow.status_code == 200 and slow.json() == {"slept_seconds": 0.2}
    assert bad.status_code == 422
    reporting.flush()
    [event] = sentry_server.wait_events(1)
    assert event["exception"]["values"][0]["type"] == "DiagnosticError"
    assert "diag-hunter2" not in json.dumps(event) and "ops.test@example.com" not in json.dumps(event)
    assert len([r for r in app.routes if getattr(r, "path", "") == "/diagnostics/error"]) == 1


def test_doctor_send_test_error_reports_the_dsns_answer(
    sentry_server: SentryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glowops.cli import app as cli_app

    for name in ("DATABASE_URL", "GLOWOPS_DATABASE_URL", "REDIS_URL", "SUPABASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path))
    sqlite3.connect(tmp_path / "glowops.db").close()  # the database the doctor checks first
    monkeypatch.setenv("SENTRY_DSN", sentry_server.dsn)
    runner = CliRunner()
    accepted = runner.invoke(cli_app, ["doctor", "--send-test-error", "--json"])
    assert accepted.exit_code == 0, accepted.output
    row = json.loads(accepted.output)["parts"][-1]
    assert row["part"] == "sentry test event" and row["status"] == "pass"
    assert "accepted" in row["message"] and "publickey" not in accepted.output
    assert sentry_server.events[0]["tags"]["glowops.test"] == "doctor"

    sentry_server.status = 401
    refused = runner.invoke(cli_app, ["doctor", "--send-test-error", "--json"])
    assert refused.exit_code == 1
    assert "HTTP 401" in json.loads(refused.output)["parts"][-1]["message"]
