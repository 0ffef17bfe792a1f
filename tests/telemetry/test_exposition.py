"""/metrics: the ops token, OpenMetrics negotiation, the loopback ops port, idempotent install."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import glowops
from glowops.install import InstrumentState
from glowops.settings import Settings
from peers import free_port


@pytest.mark.anyio
async def test_token_required(make_app: Any, client_factory: Any) -> None:
    app = make_app(ops_token="ops-secret-1-0123456789abcdef0123456789")
    client = client_factory(app)
    for headers in (
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": "ops-secret-1-0123456789abcdef0123456789"},
        {"authorization": "Bearer ops-secret-1-0123456789abcdef0123456789x"},
    ):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "http_requests_total" not in refused.text
    ok = await client.get(
        "/metrics", headers={"authorization": "Bearer ops-secret-1-0123456789abcdef0123456789"}
    )
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE http_requests_total counter" in ok.text
    assert "# TYPE http_request_duration_seconds histogram" in ok.text


@pytest.mark.anyio
async def test_openmetrics_when_asked(make_app: Any, client_factory: Any) -> None:
    app = make_app(ops_token="tttttttttttttttttttttttttttttttt")
    response = await client_factory(app).get(
        "/metrics",
        headers={
            "authorization": "Bearer tttttttttttttttttttttttttttttttt",
            "accept": "application/openmetrics-text; version=1.0.0; charset=utf-8",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert "http_requests_total{" in response.text


@pytest.mark.anyio
async def test_without_token_only_loopback(make_app: Any, client_factory: Any) -> None:
    app = make_app()
    assert (await client_factory(app, client=("127.0.0.1", 9)).get("/metrics")).status_code == 200
    assert (await client_factory(app, client=("10.1.2.3", 9)).get("/metrics")).status_code == 401


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> Any:
    async with app.router.lifespan_context(app):
        yield


@pytest.mark.anyio
async def test_ops_port_mode(make_app: Any, client_factory: Any) -> None:
    port = free_port()
    app = make_app(ops_port=port)
    assert (await client_factory(app).get("/metrics")).status_code == 404  # not on the app
    async with _lifespan(app), httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200 and "http_requests_total" in response.text
        assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404
    with pytest.raises(httpx.ConnectError):  # stopped with the app
        async with httpx.AsyncClient() as http:
            await http.get(f"http://127.0.0.1:{port}/metrics")


@pytest.mark.anyio
async def test_ops_port_taken_fails_start_up_clearly(make_app: Any) -> None:
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        app = make_app(ops_port=port)
        with pytest.raises(OSError, match=f"GLOWOPS_OPS_PORT: cannot listen on 127.0.0.1:{port}"):
            async with _lifespan(app):
                pass
    finally:
        blocker.close()


@pytest.mark.anyio
async def test_instrument_is_idempotent(logs: Any, client_factory: Any) -> None:
    app = FastAPI()

    @app.get("/x")
    async def x() -> str:
        return "x"

    settings = Settings(ops_token="tttttttttttttttttttttttttttttttt")
    for _ in range(3):
        assert (
            glowops.instrument(
                app, settings, log_stream=logs.stream, tracer=False, error_reporter=False, health=False
            )
            is app
        )
    assert [r.path for r in app.router.routes].count("/metrics") == 1
    response = await client_factory(app).get("/x", headers={"x-request-id": "once"})
    assert response.headers.get_list("x-request-id") == ["once"]
    assert len(logs.access()) == 1
    state = app._glowops_instrumented  # type: ignore[attr-defined]
    assert isinstance(state, InstrumentState) and state.middleware is not None


def test_instrument_refuses_what_it_cannot_do() -> None:
    async def bare_asgi(scope: Any, receive: Any, send: Any) -> None:
        pass

    with pytest.raises(TypeError, match="GlowopsMiddleware"):
        glowops.instrument(bare_asgi, Settings())


def test_docs_metrics_md_is_up_to_date(without_packs: None, prismaglow: Any) -> None:
    from pathlib import Path

    from glowops.telemetry.docs import render_metrics_doc

    path = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    assert path.read_text(encoding="utf-8") == render_metrics_doc(), (
        "run: glowops --pack prismaglow metrics docs --out docs/metrics.md"
    )


def test_metrics_docs_cli_check(tmp_path: Any, without_packs: None) -> None:
    from click.testing import CliRunner

    from glowops.cli import app

    out = tmp_path / "metrics.md"
    runner = CliRunner()
    assert runner.invoke(app, ["metrics", "docs", "--out", str(out), "--check"]).exit_code == 1
    assert runner.invoke(app, ["metrics", "docs", "--out", str(out)]).exit_code == 0
    core_only = out.read_text()
    assert "`glowops_spans_dropped_total`" in core_only and "security" not in core_only
    assert runner.invoke(app, ["metrics", "docs", "--out", str(out), "--check"]).exit_code == 0
    # --pack puts the pack's metrics on the page, after glowops' own
    assert runner.invoke(app, ["--pack", "prismaglow", "metrics", "docs", "--out", str(out)]).exit_code == 0
    with_pack = out.read_text()
    assert with_pack.index("`glowops_spans_dropped_total`") < with_pack.index("`security.rls_denied`")
