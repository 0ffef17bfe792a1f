"""A frozen, stopped or exhausted dependency gives a fast 503 problem, and the gateway recovers.

PostgreSQL and Redis here are private servers the tests start and freeze with SIGSTOP (never the
shared peers). The gateway runs under real uvicorn; the HTTP client's own timeout is only the hang
detector: before the deadlines, these requests got no answer for the whole freeze.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import PASSWORD, Delta, running_gateway, settings_for
from sqlalchemy import text

from peers import serve_app
from prisma_glow_gateway.app import create_app
from prisma_glow_gateway.migrate import upgrade
from prisma_glow_gateway.settings import GatewaySettings
from private_servers import PrivateServer, new_private_database, private_postgres, private_redis

pytestmark = pytest.mark.postgres

# Short dependency deadlines (what an operator would set low).
FAST = {
    "db_connect_timeout_seconds": 1.0,
    "db_pool_timeout_seconds": 1.0,
    "db_statement_timeout_seconds": 1.0,
    "redis_timeout_seconds": 0.5,
    "sqlite_busy_timeout_seconds": 1.0,
    # Roomy: seeding and log-ins hash passwords, slow on a loaded machine; the request deadline
    # has its own test below.
    "request_timeout_seconds": 120.0,
}
HANG_DETECTOR = 30.0  # far above every deadline: only a hang reaches it


def _problem_503(response: httpx.Response, dependency: str) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body: dict[str, Any] = response.json()
    assert body["status"] == 503 and body["dependency"] == dependency
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivateServer]:
    with private_postgres() as server:
        yield server


def _bootstrap(client: httpx.Client) -> dict[str, str]:
    body = {
        "orgs": [
            {
                "slug": "acme",
                "name": "Acme",
                "users": [{"email": "admin@acme.example", "password": PASSWORD, "role": "admin"}],
            }
        ]
    }
    assert client.post("/admin/bootstrap", json=body).status_code == 200
    login = client.post("/auth/login", json={"email": "admin@acme.example", "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_frozen_postgres_answers_503_within_the_deadline_and_recovers(
    pg: PrivateServer, tmp_path: Path
) -> None:
    settings = settings_for("postgres", tmp_path, new_private_database(pg), **FAST)
    upgrade(settings)
    with serve_app(create_app(settings)) as url, httpx.Client(base_url=url, timeout=HANG_DETECTOR) as client:
        auth = _bootstrap(client)
        assert client.get("/documents", headers=auth).status_code == 200
        pg.freeze()
        try:
            with Delta() as d:
                for path in ("/documents", "/approvals/pending", "/auth/me"):
                    _problem_503(client.get(path, headers=auth), "database")
            assert d("dependency_unavailable_total", dependency="database", reason="timeout") == 3
        finally:
            pg.thaw()
        # No restart: the pool drops the broken connections and the next request works.
        assert client.get("/documents", headers=auth).status_code == 200


def test_a_stopped_postgres_answers_503(tmp_path: Path) -> None:
    with private_postgres() as server:
        settings = settings_for("postgres", tmp_path, server.url, **FAST)
        upgrade(settings)
        with (
            serve_app(create_app(settings)) as url,
            httpx.Client(base_url=url, timeout=HANG_DETECTOR) as client,
        ):
            auth = _bootstrap(client)
            server.stop()
            with Delta() as d:
                _problem_503(client.get("/documents", headers=auth), "database")
                # The same keep-alive connection still works for the next request.
                _problem_503(client.get("/auth/me", headers=auth), "database")
            assert d("dependency_unavailable_total", dependency="database", reason="unreachable") == 2


def test_an_exhausted_pool_answers_503_not_a_30_second_500(pg: PrivateServer, tmp_path: Path) -> None:
    settings = settings_for(
        "postgres",
        tmp_path,
        new_private_database(pg),
        db_pool_size=1,
        db_pool_max_overflow=0,
        **FAST,
    )
    with running_gateway(settings, "postgres") as gw:
        auth = gw.headers("acme", "viewer")
        held = gw.run(gw.gateway.db.engine.connect)  # the pool's only connection, held
        try:
            with Delta() as d:
                response = gw.client.get("/documents", headers=auth)
            body = _problem_503(
                httpx.Response(response.status_code, headers=response.headers, content=response.content),
                "database",
            )
            assert "database" in body["detail"].lower()
            assert d("dependency_unavailable_total", dependency="database", reason="pool_exhausted") == 1
        finally:
            gw.run(held.close)
        assert gw.client.get("/documents", headers=auth).status_code == 200


def test_the_server_side_statement_timeout_is_set(pg: PrivateServer, tmp_path: Path) -> None:
    """A statement longer than db_statement_timeout_seconds is cancelled by PostgreSQL itself."""
    settings = settings_for("postgres", tmp_path, new_private_database(pg), **FAST)
    with running_gateway(settings, "postgres", seed=False) as gw:

        async def slow_query() -> None:
            async with gw.gateway.db.system() as session:
                await session.execute(text("SELECT pg_sleep(30)"))

        gw.client.app.add_api_route("/test/slow-query", slow_query)  # type: ignore[attr-defined]
        with Delta() as d:
            response = gw.client.get("/test/slow-query")
        assert response.status_code == 503 and response.json()["dependency"] == "database"
        assert d("dependency_unavailable_total", dependency="database", reason="timeout") == 1

        async def setting() -> str:
            async with gw.gateway.db.system() as session:
                return str(await session.scalar(text("SHOW statement_timeout")))

        assert gw.run(setting) == "1s"


def test_the_request_deadline_answers_503_above_everything(tmp_path: Path) -> None:
    settings = settings_for("sqlite", tmp_path, **{**FAST, "request_timeout_seconds": 6.0})
    with running_gateway(settings, "sqlite", seed=False) as gw:

        async def never_finishes() -> None:
            await asyncio.Event().wait()

        gw.client.app.add_api_route("/test/never", never_finishes)  # type: ignore[attr-defined]
        with Delta() as d:
            response = gw.client.get("/test/never")
        assert response.status_code == 503 and response.headers["retry-after"]
        assert response.json()["detail"].startswith("The request did not finish within 6 s")
        assert d("dependency_unavailable_total", dependency="request", reason="deadline") == 1


def test_a_frozen_redis_does_not_hang_requests(pg: PrivateServer, tmp_path: Path) -> None:
    """Redis holds the rate limiter and the cache: frozen, both fall back and requests answer."""
    with private_redis() as redis_server:
        settings = settings_for(
            "postgres", tmp_path, new_private_database(pg), redis_url=redis_server.url, **FAST
        )
        upgrade(settings)
        with (
            serve_app(create_app(settings)) as url,
            httpx.Client(base_url=url, timeout=HANG_DETECTOR) as client,
        ):
            auth = _bootstrap(client)
            assert client.get("/documents", headers=auth).status_code == 200
            redis_server.freeze()
            try:
                assert client.get("/documents", headers=auth).status_code == 200
                ready = client.get("/health/ready")
                assert ready.status_code == 503
            finally:
                redis_server.thaw()


def test_deadlines_must_nest(tmp_path: Path) -> None:
    from glowops.settings import ConfigError
    from prisma_glow_gateway.settings import load_settings

    with pytest.raises((ConfigError, ValueError), match="request_timeout_seconds"):
        load_settings(state_dir=tmp_path, request_timeout_seconds=2.0, db_statement_timeout_seconds=5.0)
    assert isinstance(GatewaySettings(state_dir=tmp_path), GatewaySettings)
