"""RED metrics under route templates, the spec's facade calls, the cardinality guard."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from glowops.telemetry.metrics import OVERFLOW_VALUE, Metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _routed_app(make_app: Any) -> FastAPI:
    app = FastAPI()
    inner = APIRouter(prefix="/documents")

    @inner.get("/{doc_id}/pages/{page}")
    async def page(doc_id: str, page: int) -> dict[str, int]:
        return {"page": page}

    outer = APIRouter(prefix="/orgs/{org_id}")
    outer.include_router(inner)
    app.include_router(outer, prefix="/api/v1")

    @app.get("/plain/{name}")
    async def plain(name: str) -> str:
        return name

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app.mount("/legacy", Starlette(routes=[Route("/hello/{who}", hello)]))
    app.add_route("/starlette-route/{k}", hello)
    return make_app(app)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/api/v1/orgs/o1/documents/d9/pages/3", "/api/v1/orgs/{org_id}/documents/{doc_id}/pages/{page}"),
        ("/plain/bob", "/plain/{name}"),
        ("/legacy/hello/ann", "/legacy/hello/{who}"),
        ("/starlette-route/7", "/starlette-route/{k}"),
    ],
)
async def test_route_label_is_the_template(
    make_app: Any, client_factory: Any, path: str, template: str
) -> None:
    app = _routed_app(make_app)
    before = _value("http_requests_total", method="GET", route=template, status="200")
    count_before = _value("http_request_duration_seconds_count", method="GET", route=template)
    assert (await client_factory(app).get(path)).status_code == 200
    assert _value("http_requests_total", method="GET", route=template, status="200") == before + 1
    assert _value("http_request_duration_seconds_count", method="GET", route=template) == count_before + 1


@pytest.mark.anyio
async def test_unmatched_paths_share_one_label(make_app: Any, client_factory: Any, logs: Any) -> None:
    app = _routed_app(make_app)
    before = _value("http_requests_total", method="GET", route="<unmatched>", status="404")
    client = client_factory(app)
    for i in range(5):
        assert (await client.get(f"/no/such/{i}")).status_code == 404
    assert _value("http_requests_total", method="GET", route="<unmatched>", status="404") == before + 5
    assert not any('route="/no/such' in line for line in _exposition().splitlines())
    assert {a["route"] for a in logs.access()} == {"<unmatched>"}


@pytest.mark.anyio
async def test_validation_errors_and_odd_methods(make_app: Any, client_factory: Any) -> None:
    app = _routed_app(make_app)
    template = "/api/v1/orgs/{org_id}/documents/{doc_id}/pages/{page}"
    before = _value("http_requests_total", method="GET", route=template, status="422")
    client = client_factory(app)
    assert (await client.get("/api/v1/orgs/o/documents/d/pages/not-a-number")).status_code == 422
    assert _value("http_requests_total", method="GET", route=template, status="422") == before + 1
    other = _value("http_requests_total", method="OTHER", route="/plain/{name}", status="405")
    assert (await client.request("BREW", "/plain/x")).status_code == 405
    assert _value("http_requests_total", method="OTHER", route="/plain/{name}", status="405") == other + 1


def test_duration_buckets_resolve_the_alert_thresholds() -> None:
    text = _exposition()
    assert 'le="2.0"' in text and 'le="5.0"' in text


def test_in_flight_gauge_is_exposed() -> None:
    assert REGISTRY.get_sample_value("http_requests_in_flight") is not None


def _exposition() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


# --- the facade ------------------------------------------------------------------------------
@pytest.fixture
def facade(prismaglow: Any) -> tuple[Metrics, CollectorRegistry]:
    """A facade over its own registry; the Prisma Glow pack's metrics are registered (the spec's calls)."""
    registry = CollectorRegistry()
    return Metrics(registry=registry, label_limit=3), registry


def test_every_spec_call_works(facade: tuple[Metrics, CollectorRegistry]) -> None:
    m, registry = facade
    get = registry.get_sample_value
    m.counter("assistant.conversations.total", tags={"org_id": "o1"})
    m.histogram("assistant.response_time", 1500)  # milliseconds in the spec
    m.counter("assistant.tool_invocations", tags={"tool": "search"})
    m.counter("documents.uploaded", tags={"org_id": "o1"})
    m.histogram("documents.extract_time", 250)  # milliseconds
    m.counter("documents.extract_errors", tags={"error_type": "ocr_timeout"})
    m.gauge("approvals.pending", 7, tags={"org_id": "o1"})
    m.histogram("approvals.decision_time", 2.5)  # hours
    m.counter("approvals.mfa_required")
    m.counter("approvals.overdue", tags={"severity": "high"})
    m.counter("security.rls_denied", tags={"table": "documents"})
    m.counter("security.permission_denied", tags={"action": "approve"})
    m.counter("security.auth_failed", tags={"reason": "bad_password"})

    assert get("assistant_conversations_total", {"org_id": "o1"}) == 1
    assert get("assistant_response_time_seconds_sum", {"responder": ""}) == pytest.approx(1.5)
    assert get("assistant_tool_invocations_total", {"tool": "search", "outcome": ""}) == 1
    assert get("documents_uploaded_total", {"org_id": "o1"}) == 1
    assert get("documents_stage_duration_seconds_sum", {"stage": "extract"}) == pytest.approx(0.25)
    assert get("documents_extract_errors_total", {"error_type": "ocr_timeout"}) == 1
    assert get("approvals_pending", {"org_id": "o1"}) == 7
    assert get("approvals_decision_time_seconds_sum", {"decision": ""}) == pytest.approx(9000.0)
    assert get("approvals_mfa_required_total") == 1
    assert get("approvals_became_overdue_total", {"severity": "high"}) == 1
    assert get("security_rls_denied_total", {"table": "documents"}) == 1
    assert get("security_permission_denied_total", {"action": "approve"}) == 1
    assert get("security_auth_failed_total", {"reason": "bad_password"}) == 1


def test_prometheus_names_take_base_units(facade: tuple[Metrics, CollectorRegistry]) -> None:
    m, registry = facade
    m.histogram("documents_stage_duration_seconds", 0.5, tags={"stage": "commit"})
    m.histogram("assistant_response_time_seconds", 2.0, tags={"responder": "llm"})
    assert registry.get_sample_value("documents_stage_duration_seconds_sum", {"stage": "commit"}) == 0.5
    assert registry.get_sample_value("assistant_response_time_seconds_sum", {"responder": "llm"}) == 2.0


def test_mistakes_get_clear_errors(facade: tuple[Metrics, CollectorRegistry]) -> None:
    m, _ = facade
    with pytest.raises(KeyError, match=r"unknown metric 'assistant\.nope'"):
        m.counter("assistant.nope")
    with pytest.raises(ValueError, match=r"unknown tag\(s\) \['colour'\]"):
        m.counter("security.rls_denied", tags={"table": "t", "colour": "red"})
    with pytest.raises(TypeError, match="is a gauge, not a counter"):
        m.counter("approvals.pending")


def test_cardinality_guard(
    facade: tuple[Metrics, CollectorRegistry], caplog: pytest.LogCaptureFixture
) -> None:
    m, registry = facade
    caplog.set_level(logging.WARNING, logger="glowops.metrics")
    for org in ["a", "b", "c", "d", "e", "d"]:
        m.counter("documents.uploaded", tags={"org_id": org})
    get = registry.get_sample_value
    assert [get("documents_uploaded_total", {"org_id": o}) for o in "abc"] == [1, 1, 1]
    assert get("documents_uploaded_total", {"org_id": "d"}) is None
    assert get("documents_uploaded_total", {"org_id": OVERFLOW_VALUE}) == 3
    overflow = get("glowops_metric_label_overflow_total", {"metric": "documents_uploaded", "label": "org_id"})
    assert overflow == 3
    warnings = [r for r in caplog.records if "label overflow" in r.getMessage()]
    assert len(warnings) == 1 and "documents_uploaded{org_id}" in warnings[0].getMessage()
    # known values keep their series; other metrics have their own budget
    m.counter("documents.uploaded", tags={"org_id": "a"})
    assert get("documents_uploaded_total", {"org_id": "a"}) == 2
    m.counter("approvals.requested", tags={"org_id": "z"})
    assert get("approvals_requested_total", {"org_id": "z"}) == 1
