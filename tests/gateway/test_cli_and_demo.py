"""``prisma-glow-gateway db upgrade``, ``serve`` and ``demo traffic`` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from peers import free_port
from prisma_glow_gateway.cli import top as cli
from prisma_glow_gateway.migrate import alembic_config
from prisma_glow_gateway.models import Base
from prisma_glow_gateway.settings import load_settings

GATEWAY = str(Path(sys.executable).with_name("prisma-glow-gateway"))


def test_db_upgrade_creates_the_schema_and_is_repeatable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    head = ScriptDirectory.from_config(alembic_config(load_settings())).get_current_head()
    assert head is not None and head != "0001_initial"
    for _ in range(2):
        result = runner.invoke(cli, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"is at revision {head}" in result.output
    assert runner.invoke(cli, ["db", "current"]).output.strip() == head
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'glowops.db'}")
    try:
        assert set(inspect(engine).get_table_names()) >= {
            "orgs",
            "users",
            "documents",
            "approvals",
            "security_events",
            "messages",
            "alembic_version",
        }
        with engine.connect() as conn:  # the migration and the models describe the same schema
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


def test_db_upgrade_on_postgres(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("GLOWOPS_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(alembic_config(load_settings())).get_current_head()
    assert f"is at revision {head}" in result.output


def test_bad_database_url_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "mysql://nope", "GLOWOPS_STATE_DIR": str(tmp_path)}
    done = subprocess.run([GATEWAY, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "prisma-glow-gateway: invalid configuration: "
        "DATABASE_URL: must be a postgresql:// or sqlite:/// URL (got 'mysql://nope')"
    ]


@pytest.fixture(scope="module")
def served_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``prisma-glow-gateway serve --demo`` in a subprocess on a free port, driving its own traffic."""
    yield from _serve(tmp_path_factory, "--demo")


@pytest.fixture(scope="module")
def quiet_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``prisma-glow-gateway serve`` without built-in traffic, for the ``demo traffic`` command:
    two drivers of the same demo approver would spend each other's one-time MFA steps."""
    yield from _serve(tmp_path_factory)


def _serve(tmp_path_factory: pytest.TempPathFactory, *args: str) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {
        **os.environ,
        "GLOWOPS_STATE_DIR": str(tmp_path / "var"),
        "GLOWOPS_PORT": str(port),
        "GLOWOPS_LOG_LEVEL": "WARNING",
        "GLOWOPS_REQUEST_TIMEOUT_SECONDS": "600",  # seeding on a loaded machine
    }
    env.pop("DATABASE_URL", None)
    env.pop("GLOWOPS_OPS_TOKEN", None)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([GATEWAY, "serve", *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # generous: a loaded CI machine starts it slowly
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(
                    "prisma-glow-gateway serve exited: " + (tmp_path / "serve.log").read_text()[-2000:]
                )
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(
                "prisma-glow-gateway serve did not start: " + (tmp_path / "serve.log").read_text()[-2000:]
            )
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)  # a graceful stop is slow on a loaded machine, not wrong
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.slow
def test_serve_demo_drives_its_own_traffic(served_gateway: str) -> None:
    deadline = time.monotonic() + 180  # bounded poll on the condition itself
    metrics = ""
    while time.monotonic() < deadline:
        metrics = httpx.get(served_gateway + "/metrics", timeout=5).text
        if 'route="/admin/bootstrap"' in metrics and "documents_uploaded_total{" in metrics:
            break
        time.sleep(0.5)
    assert 'route="/admin/bootstrap",status="200"' in metrics
    assert "documents_uploaded_total{" in metrics


@pytest.mark.slow
def test_demo_traffic_against_a_quiet_gateway(quiet_gateway: str, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("GLOWOPS_OPS_TOKEN", None)
    done = subprocess.run(
        [
            GATEWAY,
            "demo",
            "traffic",
            "--target",
            quiet_gateway,
            "--duration",
            "3",
            "--rps",
            "15",
            "--seed",
            "7",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Demo traffic:" in out and "HTTP statuses:" in out
    for scenario in (
        "login: bad password",
        "login: unknown user",
        "forged token",
        "corrupt upload",
        "cross-org access",
        "permission denied",
        "MFA failure",
        "overdue approval",
        "document pipeline",
        "assistant chat",
        "approval with MFA",
        "invalid transition",
    ):
        assert scenario in out, scenario
    statuses = out.split("HTTP statuses:")[1]
    for code in ("200", "201", "401", "403", "404", "409", "422"):
        assert f"{code}:" in statuses, code

    time.sleep(1.1)  # the one-second SLA of the last overdue approval passes
    metrics = httpx.get(quiet_gateway + "/metrics", timeout=5).text

    def value(line_start: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(line_start)
        )

    assert value('security_auth_failed_total{reason="bad_password"}') >= 1
    assert value('security_auth_failed_total{reason="unknown_user"}') >= 1
    assert value('security_auth_failed_total{reason="forged_token"}') >= 1
    assert value('security_rls_denied_total{table="documents"}') >= 1
    assert value('security_permission_denied_total{action="documents:write"}') >= 1
    assert value("approvals_mfa_failed_total") >= 1 and value("approvals_mfa_completed_total") >= 1
    assert value("documents_extract_errors_total") >= 1
    assert value("assistant_tool_invocations_total") >= 1
    # A read of the pending list sweeps: the one-second SLAs have passed by now.
    from prisma_glow_gateway.demo import DEMO_PASSWORD

    login = httpx.post(
        quiet_gateway + "/auth/login",
        json={"email": "viewer@demo-acme.demo", "password": DEMO_PASSWORD},
        timeout=10,
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    httpx.get(quiet_gateway + "/approvals/pending", headers=headers, timeout=10)
    metrics = httpx.get(quiet_gateway + "/metrics", timeout=5).text
    assert value("approvals_became_overdue_total") >= 1
    assert value("approvals_overdue{") >= 1


def test_demo_traffic_against_nothing_fails_clearly() -> None:
    port = free_port()
    done = subprocess.run(
        [GATEWAY, "demo", "traffic", "--target", f"http://127.0.0.1:{port}", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"cannot drive http://127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def test_serve_answers_an_unparseable_request_with_a_problem(served_gateway: str) -> None:
    """``serve`` runs uvicorn with glowops' protocol: even a broken header gets problem+json."""
    import socket

    host, port = served_gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\n\x01b\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/problem+json" in head
    assert b'"status":400' in body


def test_db_roles_prints_and_applies_the_least_privilege_roles(pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1]
    printed = CliRunner().invoke(cli, ["db", "roles", "--database", name])
    assert printed.exit_code == 0, printed.output
    assert "NOINHERIT" in printed.output and "BYPASSRLS" in printed.output
    assert "PASSWORD" not in printed.output  # printed SQL never carries a password
    applied = CliRunner().invoke(cli, ["db", "roles", "--database", name, "--apply", pg_url])
    assert applied.exit_code == 0, applied.output

    async def owner() -> str:
        import asyncpg

        conn = await asyncpg.connect(pg_url)
        try:
            return str(
                await conn.fetchval(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                )
            )
        finally:
            await conn.close()

    import asyncio

    assert asyncio.run(owner()) == "glowops_owner"
    bad = CliRunner().invoke(cli, ["db", "roles", "--database", "no such db"])
    assert bad.exit_code == 2 and "letters, digits and '_' only" in bad.output
