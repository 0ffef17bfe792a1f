"""The gateway as glowops' user: one instrument() call and one instrument_clients() call give it
request spans with SQL children, and its embedded alert engine samples it while it runs."""

from __future__ import annotations

import time
from pathlib import Path

from otlp_receiver import OTLPReceiver

from gateway.gateway_helpers import PASSWORD, running_gateway, settings_for
from glowops.telemetry.tracing import flush_tracing

SERVER, CLIENT = 2, 3  # OTLP SpanKind values


def test_a_login_is_one_server_span_with_its_sql_statements_as_children(
    tmp_path: Path, receiver: OTLPReceiver
) -> None:
    settings = settings_for(
        "sqlite", tmp_path, otel_exporter_otlp_endpoint=receiver.endpoint, embedded_alerting=False
    )
    with running_gateway(settings, "sqlite") as gw:
        response = gw.client.post(
            "/auth/login", json={"email": gw.email("acme", "viewer"), "password": PASSWORD}
        )
        assert response.status_code == 200
        request_id = response.headers["X-Request-ID"]
        flush_tracing()
        spans = receiver.wait_for(lambda s: any(x.name == "POST /auth/login" for x in s))
    [login] = [s for s in spans if s.name == "POST /auth/login"]
    assert login.kind == SERVER and login.resource["service.name"] == "gateway"
    assert login.attributes["http.response.status_code"] == 200
    sql = [s for s in spans if s.kind == CLIENT and s.trace_id == login.trace_id]
    assert sql, "the login's SQL statements are child spans of its request"
    assert all(s.parent_span_id == login.span_id for s in sql)
    assert all(s.scope == "opentelemetry.instrumentation.sqlalchemy" for s in sql)
    assert request_id  # the same request's log lines carry trace_id (tests/tracing/test_tracing_spans.py)


def test_the_embedded_alert_engine_samples_the_running_gateway(tmp_path: Path) -> None:
    settings = settings_for("sqlite", tmp_path, scrape_interval_seconds=0.2, evaluation_interval_seconds=0.2)
    with running_gateway(settings, "sqlite", seed=False) as gw:
        alerting = gw.client.app.state.glowops_alerting  # type: ignore[attr-defined]
        assert alerting is not None, "GLOWOPS_EMBEDDED_ALERTING defaults to on"
        for _ in range(5):
            gw.client.get("/health")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alerting.store.series_count() == 0:
            time.sleep(0.1)
        assert alerting.store.series_count() > 0
        assert alerting.engine is not None and alerting.last_result is not None
    assert gw.client.app.state.glowops_alerting is None  # type: ignore[attr-defined]  # stopped
    # Samples and alert state outlive the process (a restart keeps history).
    assert (Path(settings.state_dir) / "alerting.db").stat().st_size > 0
