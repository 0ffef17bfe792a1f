"""One ops guard for every ops surface: strong tokens, one failed-attempt limiter that holds
across parallel requests, /diagnostics behind it and bounded."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from starlette.applications import Starlette

import glowops
from glowops.alerting.channels import TEAMS_RELAY_PATH
from glowops.cli import app as cli_app
from glowops.install import InstrumentState
from glowops.ops_guard import AttemptLimiter
from glowops.settings import Settings

TOKEN = "guard-test-token-0123456789abcdef-xyz"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ops_app(tmp_path: Path) -> tuple[Starlette, Clock]:
    settings = Settings(
        ops_token=TOKEN,
        state_dir=tmp_path,
        diagnostics=True,
        teams_webhook_url="https://teams.example/hook",
        embedded_alerting=False,
        health_backup_check=False,
    )
    app = Starlette()
    glowops.instrument(app, settings, configure_logs=False)
    state: InstrumentState = app._glowops_instrumented  # type: ignore[attr-defined]
    assert state.guard is not None
    clock = Clock()
    state.guard.limiter.clock = clock
    return app, clock


def client(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="https://svc.example")


async def attempt(c: httpx.AsyncClient, surface: str, token: str) -> httpx.Response:
    """One request presenting ``token`` to an ops surface."""
    auth = {"authorization": f"Bearer {token}"}
    if surface == "metrics":
        return await c.get("/metrics", headers=auth)
    if surface == "health":
        return await c.get("/health/dependencies", headers=auth)
    if surface == "relay":
        return await c.post(TEAMS_RELAY_PATH, headers=auth, content=b"{}")
    if surface == "console-api":
        return await c.get("/ops/api/query_range?expr=up", headers=auth)
    if surface == "console-login":
        return await c.post("/ops/login", data={"token": token, "next": "/ops"})
    assert surface == "diagnostics"
    return await c.get("/diagnostics/slow?seconds=0", headers=auth)


SURFACES = ("metrics", "health", "relay", "console-api", "console-login", "diagnostics")


def test_parallel_wrong_tokens_on_every_surface_share_one_limit(tmp_path: Path) -> None:
    app, clock = ops_app(tmp_path)

    async def scenario() -> None:
        async with client(app, "203.0.113.7") as attacker, client(app, "198.51.100.2") as operator:
            guesses = [attempt(attacker, SURFACES[n % len(SURFACES)], f"guess-{n:04d}") for n in range(60)]
            answers = await asyncio.gather(*guesses)
            codes = [a.status_code for a in answers]
            assert codes.count(429) == 50  # only the first 10 guesses were compared at all
            for n, answer in enumerate(answers):
                if answer.status_code == 429:
                    assert int(answer.headers["retry-after"]) > 0
                elif SURFACES[n % len(SURFACES)] == "health":
                    assert answer.status_code == 200 and "checks" not in answer.json()  # no details
                else:
                    assert answer.status_code == 401
            # While held, the right token is refused too: a correct guess is not recognisable.
            assert (await attempt(attacker, "metrics", TOKEN)).status_code == 429
            # A probe presenting nothing is no guess: never limited.
            assert (await attacker.get("/health/ready")).status_code == 200
            assert (await attacker.get("/metrics")).status_code == 401
            # Another address is not held by this one's failures.
            assert (await attempt(operator, "metrics", TOKEN)).status_code == 200
            clock.now += 61  # the window passes
            assert (await attempt(attacker, "metrics", TOKEN)).status_code == 200
            assert (await attempt(attacker, "diagnostics", TOKEN)).status_code == 200

    asyncio.run(scenario())


def test_the_overall_limit_holds_across_addresses(tmp_path: Path) -> None:
    app, _ = ops_app(tmp_path)

    async def scenario() -> None:
        for host in range(5):
            async with client(app, f"192.0.2.{host + 1}") as c:
                answers = await asyncio.gather(*(attempt(c, "metrics", f"nope-{n}") for n in range(10)))
                assert {a.status_code for a in answers} == {401}
        async with client(app, "192.0.2.200") as fresh:
            held = await attempt(fresh, "relay", TOKEN)
            assert held.status_code == 429 and held.headers["content-type"] == "application/problem+json"
            assert "Too many wrong ops tokens" in held.json()["detail"]

    asyncio.run(scenario())


def test_limiter_window_slides_with_the_clock() -> None:
    clock = Clock()
    limiter = AttemptLimiter(per_client=2, overall=100, window=10.0, clock=clock)
    limiter.record_failure("a")
    clock.now += 4
    limiter.record_failure("a")
    assert limiter.retry_after("a") == pytest.approx(6.0)
    clock.now += 6
    assert limiter.retry_after("a") == 0.0
    assert limiter.retry_after("b") == 0.0


def test_diagnostics_need_the_token_and_slow_is_capped(tmp_path: Path) -> None:
    app, _ = ops_app(tmp_path)

    async def scenario() -> None:
        async with client(app, "127.0.0.1") as local:
            # Loopback is no credential once a token is set.
            assert (await local.get("/diagnostics/slow?seconds=0")).status_code == 401
            assert (await local.get("/diagnostics/error")).status_code == 401
            auth = {"authorization": f"Bearer {TOKEN}"}
            for seconds in ("30", "6", "inf", "nan", "-1", "x"):
                answer = await local.get(f"/diagnostics/slow?seconds={seconds}", headers=auth)
                assert answer.status_code == 422, seconds
                assert answer.headers["content-type"] == "application/problem+json"
                assert "from 0 to 5" in answer.json()["detail"]
            ok = await local.get("/diagnostics/slow?seconds=0", headers=auth)
            assert ok.status_code == 200 and ok.json() == {"slept_seconds": 0.0}

    asyncio.run(scenario())


@pytest.mark.parametrize("token", ["a", "short-but-not-32-chars-long-xyz"])
def test_a_short_token_is_refused_with_the_setting_named(token: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(ops_token=token)
    env = {**os.environ, "GLOWOPS_OPS_TOKEN": token}
    glowops_bin = str(Path(sys.executable).parent / "glowops")
    result = subprocess.run(
        [glowops_bin, "config", "show"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "GLOWOPS_OPS_TOKEN: must be at least 32 characters" in lines[0], result.stderr
    assert "glowops config gen-token" in lines[0]
    assert len(token) < 8 or token not in lines[0]  # never echoed


def test_gen_token_prints_a_token_the_settings_accept() -> None:
    result = CliRunner().invoke(cli_app, ["config", "gen-token"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert Settings(ops_token=token).ops_token is not None
    assert CliRunner().invoke(cli_app, ["config", "gen-token"]).output.strip() != token
