"""Body shapes, headers, who sees details, and that nothing secret ever leaves."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from health_helpers import SECRET, SECRET_HOST, asgi_client, closed_port, make_app, settings_with

from glowops.health import HealthRegistry, Observation, Status, health_check

pytestmark = pytest.mark.anyio

PATHS = ("/health", "/health/live", "/health/ready", "/health/db", "/health/dependencies")
HEALTH_JSON = {"accept": "application/health+json"}


async def test_every_answer_has_cache_control_no_store_in_both_formats(
    base_settings: dict[str, object],
) -> None:
    settings = settings_with(base_settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    app, health = make_app(settings)
    seen = set()
    async with asgi_client(app) as client:
        for path in PATHS:
            for headers in ({}, HEALTH_JSON):
                answer = await client.get(path, headers=headers)
                seen.add(answer.status_code)
                assert answer.headers["cache-control"] == "no-store", (path, headers)
    await health.runner.aclose()
    assert seen == {200, 503}  # the header is on failures too


async def test_health_is_liveness_with_the_spec_fields_and_no_io(base_settings: dict[str, object]) -> None:
    calls = []
    registry = HealthRegistry()

    @health_check("counted", registry=registry)
    async def counted() -> None:
        calls.append(1)

    app, health = make_app(settings_with(base_settings), registry)
    async with asgi_client(app) as client:
        body = (await client.get("/health")).json()
        live = await client.get("/health/live")
    await health.runner.aclose()
    assert calls == []
    assert body["status"] == "healthy"
    assert body["version"] == "1.2.3"
    assert body["timestamp"].endswith("+00:00")
    assert body["uptime_seconds"] >= 0
    assert live.status_code == 200


async def test_health_json_follows_the_ietf_draft(base_settings: dict[str, object]) -> None:
    settings = settings_with(base_settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    app, health = make_app(settings)
    async with asgi_client(app) as client:
        answer = await client.get("/health/dependencies", headers={"accept": "application/health+json, */*"})
        plain = await client.get("/health/dependencies", headers={"accept": "application/health+json;q=0"})
    await health.runner.aclose()
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/health+json"
    body = answer.json()
    assert body["status"] == "fail"
    assert body["serviceId"] == "gateway"
    expected = {"uptime", "database:responseTime", "redis:responseTime", "disk:utilization"}
    assert set(body["checks"]) == expected
    for key, entries in body["checks"].items():
        assert isinstance(entries, list) and len(entries) == 1, key
        entry = entries[0]
        assert {"componentType", "observedValue", "observedUnit", "status", "time"} <= set(entry), key
        assert entry["status"] in ("pass", "warn", "fail")
    assert (
        body["checks"]["redis:responseTime"][0]
        | {"status": "fail", "output": "connection refused", "componentType": "datastore"}
        == body["checks"]["redis:responseTime"][0]
    )
    assert body["checks"]["disk:utilization"][0]["observedUnit"] == "percent"
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["status"] == "unhealthy"


async def test_a_non_critical_warning_is_warn_with_200(base_settings: dict[str, object]) -> None:
    registry = HealthRegistry()

    @registry.check("queue_depth", critical=False, measurement="depth")
    def queue_depth() -> Observation:
        return Observation(Status.WARN, "queue backing up", 950, "jobs")

    app, health = make_app(settings_with(base_settings), registry)
    async with asgi_client(app) as client:
        answer = await client.get("/health/dependencies", headers=HEALTH_JSON)
    await health.runner.aclose()
    assert answer.status_code == 200
    assert answer.json()["status"] == "warn"
    assert answer.json()["checks"]["queue_depth:depth"][0] == {
        **answer.json()["checks"]["queue_depth:depth"][0],
        "status": "warn",
        "observedValue": 950,
        "observedUnit": "jobs",
        "output": "queue backing up",
    }


async def test_details_need_the_ops_token(base_settings: dict[str, object]) -> None:
    app, health = make_app(settings_with(base_settings, ops_token="s3cret-ops-0123456789abcdef0123456789"))
    async with asgi_client(app) as client:
        anonymous = (await client.get("/health/dependencies")).json()
        wrong = (await client.get("/health/dependencies", headers={"authorization": "Bearer nope"})).json()
        authorized = {"authorization": "Bearer s3cret-ops-0123456789abcdef0123456789"}
        right = (await client.get("/health/dependencies", headers=authorized)).json()
        ietf_anonymous = (await client.get("/health/dependencies", headers=HEALTH_JSON)).json()
    await health.runner.aclose()
    assert set(anonymous) == {"status", "version", "timestamp", "uptime_seconds"}
    assert "checks" not in wrong
    assert set(right["checks"]) == {"database", "disk"}
    assert set(ietf_anonymous["checks"]) == {"uptime"}


async def test_without_a_token_only_loopback_callers_see_details(base_settings: dict[str, object]) -> None:
    app, health = make_app(settings_with(base_settings))
    async with asgi_client(app, client=("203.0.113.7", 40000)) as remote, asgi_client(app) as local:
        from_remote = (await remote.get("/health/dependencies")).json()
        from_local = (await local.get("/health/dependencies")).json()
    await health.runner.aclose()
    assert "checks" not in from_remote and from_remote["status"] == "healthy"
    assert "database" in from_local["checks"]


async def test_no_answer_ever_contains_a_secret_or_host_from_a_connection_error(
    base_settings: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_with(
        base_settings,
        database_url=f"postgresql://app:{SECRET}@{SECRET_HOST}:5432/glow",
        redis_url=f"redis://:{SECRET}@{SECRET_HOST}:6379/0",
        supabase_url=f"http://{SECRET_HOST}",
        supabase_anon_key=SECRET,
        openai_api_key=f"sk-{SECRET}",
        openai_base_url=f"http://{SECRET_HOST}/v1",
        ops_token="ops-token-0123456789abcdef0123456789",
        health_check_timeout_seconds=2.0,
        health_deadline_seconds=3.0,
    )
    app, health = make_app(settings)
    texts: list[str] = []
    caplog.set_level(logging.WARNING, logger="glowops.health")
    async with asgi_client(app) as client:
        for path in PATHS:
            for headers in (
                {},
                HEALTH_JSON,
                {"authorization": "Bearer ops-token-0123456789abcdef0123456789"},
                {
                    **HEALTH_JSON,
                    "authorization": "Bearer ops-token-0123456789abcdef0123456789",
                    "x-request-id": "probe-42",
                },
            ):
                answer = await client.get(path, headers=headers)
                texts.append(answer.text + str(answer.headers))
        authorized = {"authorization": "Bearer ops-token-0123456789abcdef0123456789"}
        details = (await client.get("/health/dependencies", headers=authorized)).json()
    await health.runner.aclose()
    for text in texts:
        for planted in (SECRET, "hunter2", SECRET_HOST, "db-secret-host", "Errno", "Name or service"):
            assert planted not in text
    outputs = {name: entry.get("output") for name, entry in details["checks"].items()}
    # Fixed client-safe messages only. A resolver that is slow to refuse ``.invalid`` (seen on a
    # loaded machine) makes a lookup outlast the check's timeout: that is reported as a timeout.
    assert outputs.pop("disk") is None
    assert outputs.keys() == {"database", "redis", "supabase", "openai"}
    assert set(outputs.values()) <= {"dns failure", "timeout"}, outputs
    # The detail went to the log instead, with the request ID of the request that ran the check.
    failures = [r.getMessage() for r in caplog.records if "failed: dns failure" in r.getMessage()]
    assert failures and all("detail=" in message for message in failures)
    assert any("request_id=probe-42" in message for message in failures)


async def test_the_log_line_of_a_failure_carries_the_request_id(
    base_settings: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    app, health = make_app(settings_with(base_settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0"))
    caplog.set_level(logging.WARNING, logger="glowops.health")
    async with asgi_client(app) as client:
        await client.get("/health/ready", headers={"x-request-id": "req-7f3a"})
    await health.runner.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "glowops.health"]
    assert any(
        "redis failed: connection refused" in line and "request_id=req-7f3a" in line and "detail=" in line
        for line in lines
    ), lines


async def test_health_db_is_503_when_the_database_is_down(base_settings: dict[str, object]) -> None:
    app, health = make_app(
        settings_with(base_settings, database_url=f"postgresql://app@127.0.0.1:{closed_port()}/x")
    )
    async with asgi_client(app) as client:
        answer = await client.get("/health/db")
    await health.runner.aclose()
    assert answer.status_code == 503
    body: dict[str, Any] = answer.json()
    assert body["status"] == "unhealthy" and body["database"] == "unreachable"
    assert body["checks"]["database"]["output"] == "connection refused"


async def test_a_missing_sqlite_file_is_reported_not_created(
    base_settings: dict[str, object], tmp_path: Any
) -> None:
    missing = tmp_path / "nowhere.db"
    app, health = make_app(settings_with(base_settings, database_url=f"sqlite:///{missing}"))
    async with asgi_client(app) as client:
        answer = await client.get("/health/db")
    await health.runner.aclose()
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"]["output"] == "database file missing"
    assert not missing.exists()


def test_install_health_works_on_fastapi_and_is_idempotent(base_settings: dict[str, object]) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from glowops.health import get_health, install_health

    app = FastAPI()
    settings = settings_with(base_settings)
    first = install_health(app, settings)
    assert install_health(app, settings) is first
    assert get_health(app) is first
    closed = []

    @first.registry.check("closer", critical=False)
    async def closer() -> None:
        return None

    async def record_close() -> None:
        closed.append(True)

    first.registry.get("closer").aclose = record_close  # type: ignore[union-attr,method-assign]
    with TestClient(app) as client:
        assert client.get("/health/dependencies").json()["status"] == "healthy"
        assert client.head("/health").status_code == 200
    assert closed == [True]  # resources released on shutdown
    assert [getattr(r, "path", None) for r in app.routes].count("/health") == 1


async def test_version_falls_back_to_the_release_then_the_package(base_settings: dict[str, object]) -> None:
    import glowops

    seen = []
    for overrides in ({"service_version": ""}, {"service_version": "", "sentry_release": "gw@9.9.9"}):
        app, health = make_app(settings_with(base_settings, **overrides))
        async with asgi_client(app) as client:
            seen.append((await client.get("/health")).json()["version"])
        await health.runner.aclose()
    assert seen == [glowops.__version__, "gw@9.9.9"]
