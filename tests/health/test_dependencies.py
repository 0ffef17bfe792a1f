"""/health/* against the real PostgreSQL and Redis, dead and hung peers, and a fake Supabase/OpenAI."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from health_helpers import (
    CountingProxy,
    FakeSaaS,
    HangServer,
    asgi_client,
    closed_port,
    make_app,
    settings_with,
)

from glowops.health.checks import APPLICATION_NAME

pytestmark = pytest.mark.anyio


def _checks(body: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = body["checks"]
    return checks


@pytest.mark.postgres
@pytest.mark.redis
async def test_all_healthy_with_real_postgres_and_redis(
    base_settings: dict[str, object], pg_url: str, redis_url: str
) -> None:
    app, health = make_app(settings_with(base_settings, database_url=pg_url, redis_url=redis_url))
    async with asgi_client(app) as client:
        for path in ("/health/db", "/health/dependencies", "/health/ready"):
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.json()["status"] == "healthy"
        body = (await client.get("/health/dependencies")).json()
    await health.runner.aclose()
    assert set(_checks(body)) == {"database", "redis", "disk"}
    assert all(entry["status"] == "healthy" for entry in _checks(body).values())
    assert _checks(body)["database"]["critical"] is True
    assert _checks(body)["database"]["observed_unit"] == "ms"
    assert body["version"] == "1.2.3"


@pytest.mark.postgres
async def test_redis_on_a_closed_port_is_503_within_the_deadline(
    base_settings: dict[str, object], pg_url: str
) -> None:
    settings = settings_with(
        base_settings, database_url=pg_url, redis_url=f"redis://127.0.0.1:{closed_port()}/0"
    )
    app, health = make_app(settings)
    async with asgi_client(app) as client:
        answer = await client.get("/health/dependencies")
        ready = await client.get("/health/ready")
        database = await client.get("/health/db")
    await health.runner.aclose()
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unhealthy"
    assert _checks(body)["redis"] == {
        **_checks(body)["redis"],
        "status": "unhealthy",
        "output": "connection refused",
    }
    assert _checks(body)["database"]["status"] == "healthy"  # a failing sibling does not poison it
    assert ready.status_code == 503
    assert database.status_code == 200
    assert database.json()["database"] == "connected"


@pytest.mark.parametrize("peer", ["redis", "postgres"])
async def test_a_peer_that_accepts_and_never_answers_times_out_within_the_deadline(
    base_settings: dict[str, object], hang: HangServer, peer: str
) -> None:
    url = (
        f"redis://127.0.0.1:{hang.port}/0"
        if peer == "redis"
        else f"postgresql://app@127.0.0.1:{hang.port}/glow"
    )
    overrides = {"redis_url": url} if peer == "redis" else {"database_url": url}
    # The peer never answers: the answer comes only if the timeout and the deadline hold.
    settings = settings_with(
        base_settings, **overrides, health_check_timeout_seconds=0.5, health_deadline_seconds=1.0
    )
    app, health = make_app(settings)
    name = "redis" if peer == "redis" else "database"
    async with asgi_client(app) as client:
        baseline_tasks = len(asyncio.all_tasks())
        for _ in range(8):  # many probes in a row: nothing may pile up
            answer = await client.get("/health/dependencies")
            assert answer.status_code == 503
            entry = _checks(answer.json())[name]
            assert entry["output"] == "timeout"
            assert _checks(answer.json())["disk"]["status"] == "healthy"  # siblings answer normally
        await asyncio.sleep(0.05)
        assert len(asyncio.all_tasks()) <= baseline_tasks + 1
    await health.runner.aclose()
    assert hang.accepted >= 8
    deadline = time.monotonic() + 2
    while hang.open_connections() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert hang.open_connections() == 0, "a timed-out probe left its connection open"


@pytest.mark.postgres
def test_cancelled_postgres_probes_leave_no_connection_behind(
    base_settings: dict[str, object], pg_url: str
) -> None:
    # A timeout this short cancels probes mid-connect and mid-query. Plain asyncio.run, not the
    # anyio runner: asyncpg cancelled during its SSL negotiation leaves a "Future exception was
    # never retrieved" for the loop's handler to log, which anyio would re-raise into the test.
    settings = settings_with(base_settings, database_url=pg_url, health_check_timeout_seconds=0.004)
    db_name = pg_url.rsplit("/", 1)[1]

    async def probe_and_count() -> tuple[set[int], int]:
        app, health = make_app(settings)
        outcomes = set()
        async with asgi_client(app) as client:
            for _ in range(40):
                outcomes.add((await client.get("/health/db")).status_code)
        await health.runner.aclose()
        conn = await asyncpg.connect(pg_url.replace(db_name, "postgres"))
        try:
            deadline = time.monotonic() + 3
            while True:
                left: int = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
                    db_name,
                    APPLICATION_NAME,
                )
                if left == 0 or time.monotonic() > deadline:
                    return outcomes, left
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    outcomes, left = asyncio.run(probe_and_count())
    assert 503 in outcomes
    assert left == 0


@pytest.mark.parametrize(
    ("status", "delay", "output"),
    [
        (500, 0.0, "unexpected status 500"),
        (401, 0.0, "authentication failed"),
        (200, 30.0, "timeout"),  # answers long after the check's timeout
    ],
)
async def test_supabase_and_openai_failures_are_non_critical(
    base_settings: dict[str, object], saas: FakeSaaS, status: int, delay: float, output: str
) -> None:
    saas.set("/auth/v1/health", status, delay)
    saas.set("/v1/models", status, delay)
    settings = settings_with(
        base_settings,
        supabase_url=saas.url,
        supabase_anon_key="anon-key",
        openai_api_key="sk-test",
        openai_base_url=saas.url + "/v1",
        **({"health_check_timeout_seconds": 0.5, "health_deadline_seconds": 1.0} if delay else {}),
    )
    app, health = make_app(settings)
    async with asgi_client(app) as client:
        answer = await client.get("/health/dependencies")
        ready = await client.get("/health/ready")
    await health.runner.aclose()
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    for name in ("supabase", "openai"):
        assert _checks(body)[name]["status"] == "unhealthy"
        assert _checks(body)[name]["output"] == output
        assert _checks(body)[name]["critical"] is False
    assert ready.status_code == 200
    assert "nope" not in answer.text and "db-internal" not in answer.text


async def test_supabase_gets_the_apikey_header_and_openai_the_bearer_key(
    base_settings: dict[str, object], saas: FakeSaaS
) -> None:
    saas.set("/auth/v1/health")
    saas.set("/v1/models")
    settings = settings_with(
        base_settings,
        supabase_url=saas.url + "/",
        supabase_anon_key="anon-key",
        openai_api_key="sk-test",
        openai_base_url=saas.url + "/v1",
    )
    app, health = make_app(settings)
    async with asgi_client(app) as client:
        body = (await client.get("/health/dependencies")).json()
    await health.runner.aclose()
    assert body["status"] == "healthy"
    assert saas.headers["/auth/v1/health"][0]["apikey"] == "anon-key"
    assert saas.headers["/v1/models"][0]["authorization"] == "Bearer sk-test"


async def test_supabase_can_be_made_critical(base_settings: dict[str, object], saas: FakeSaaS) -> None:
    saas.set("/auth/v1/health", 503)
    settings = settings_with(
        base_settings, supabase_url=saas.url, supabase_anon_key="anon-key", health_supabase_critical=True
    )
    app, health = make_app(settings)
    async with asgi_client(app) as client:
        answer = await client.get("/health/ready")
    await health.runner.aclose()
    assert answer.status_code == 503
    assert _checks(answer.json())["supabase"]["output"] == "unexpected status 503"


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_burst_of_200_probes_reaches_each_dependency_once_per_ttl(
    base_settings: dict[str, object], pg_url: str, redis_url: str, saas: FakeSaaS
) -> None:
    saas.set("/auth/v1/health")
    saas.set("/v1/models")
    pg_proxy = CountingProxy(5432)
    redis_proxy = CountingProxy(6379)
    try:
        settings = settings_with(
            base_settings,
            database_url=pg_url.replace(":5432/", f":{pg_proxy.port}/"),
            redis_url=f"redis://127.0.0.1:{redis_proxy.port}/15",
            supabase_url=saas.url,
            supabase_anon_key="anon-key",
            openai_api_key="sk-test",
            openai_base_url=saas.url + "/v1",
            health_cache_ttl_seconds=2.0,
            health_openai_ttl_seconds=2.0,
        )
        app, health = make_app(settings)
        clock = [1000.0]  # the cache's clock: the TTL passes when the test says so
        health.runner.clock = lambda: clock[0]

        async def burst() -> None:
            async with asgi_client(app) as client:
                answers = await asyncio.gather(*(client.get("/health/dependencies") for _ in range(200)))
            assert {a.status_code for a in answers} == {200}

        await burst()
        counts = (
            pg_proxy.connections,
            redis_proxy.connections,
            saas.hits["/auth/v1/health"],
            saas.hits["/v1/models"],
        )
        assert counts == (1, 1, 1, 1)
        clock[0] += 2.1  # the TTL expires: the next burst may reach each dependency once more
        await burst()
        await health.runner.aclose()
        counts = (
            pg_proxy.connections,
            redis_proxy.connections,
            saas.hits["/auth/v1/health"],
            saas.hits["/v1/models"],
        )
        assert counts == (2, 2, 2, 2)
    finally:
        pg_proxy.close()
        redis_proxy.close()
