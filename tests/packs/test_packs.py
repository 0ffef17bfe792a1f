"""Packs: the public way a service adds metrics, rules, dashboards and runbooks to glowops.

A registered pack's metric families exist on /metrics (and only then); the same generators cover
it (rule files with promtool tests, dashboards, docs, runbooks); the CLI and GLOWOPS_PACKS select
installed packs by name; mistakes are refused with a message that says what to do.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

import glowops
from glowops.alerting.rules import AlertRule, RuleBuilder
from glowops.cli import app as cli
from glowops.dashboards.model import Dashboard, Panel, Query
from glowops.packs import (
    Pack,
    PackError,
    active_packs,
    available_packs,
    load_pack,
    register_pack,
    registered_packs,
    unregister_pack,
)
from glowops.settings import Settings
from glowops.telemetry.catalog import MetricSpec, lookup
from glowops.telemetry.metrics import Metrics, metrics
from glowops_prismaglow import pack as prismaglow_pack

PACK_FAMILIES = ("assistant_conversations", "documents_stage", "approvals_pending", "security_rls_denied")


def exposition() -> str:
    return generate_latest(REGISTRY).decode()


def billing_alerts(b: RuleBuilder) -> list[AlertRule]:
    return [
        b.rule(
            "InvoicesFailing",
            "warning",
            "P2",
            "billing",
            f"sum(increase(billing_invoices_failed_total[{b.d('15m')}])) > 10",
            for_="5m",
            summary="Invoices fail",
            description="More than 10 invoices failed in 15 minutes.",
            dashboard="billing",
        )
    ]


def billing_dashboards(catalog: Any, settings: Any) -> list[Dashboard]:
    query = Query("sum(increase(billing_invoices_failed_total[15m]))", "failed")
    panel = Panel(
        key="failed",
        title="Failed invoices (15 min)",
        description="All organisations.",
        unit="short",
        queries=(query,),
    )
    return [Dashboard(uid="glowops-billing", title="Billing", description="Invoices.", panels=(panel,))]


BILLING = Pack(
    name="billing",
    description="A service's own pack, declared in code.",
    metrics=(
        MetricSpec(
            "billing_invoices_failed", "counter", "Invoices that failed.", ("reason",), dashboard="billing"
        ),
    ),
    families=("billing",),
    alerts=billing_alerts,
    dashboards=billing_dashboards,
)


def test_a_pack_metric_family_exists_only_while_the_pack_is_registered(without_packs: None) -> None:
    for family in PACK_FAMILIES:
        assert f"# TYPE {family}" not in exposition()
    with pytest.raises(KeyError, match="register the pack that declares it"):
        metrics.counter("documents.uploaded", tags={"org_id": "o"})
    register_pack(prismaglow_pack)
    assert registered_packs() == (prismaglow_pack,)
    text = exposition()
    for family in PACK_FAMILIES:
        assert f"# TYPE {family}" in text
    metrics.counter("documents.uploaded", tags={"org_id": "o"})
    assert REGISTRY.get_sample_value("documents_uploaded_total", {"org_id": "o"}) == 1
    unregister_pack(prismaglow_pack.name)
    assert "documents_uploaded" not in exposition()
    with pytest.raises(KeyError):
        lookup("documents.uploaded")


def test_a_facade_made_before_the_pack_creates_its_metrics_on_first_use(without_packs: None) -> None:
    registry = CollectorRegistry()
    early = Metrics(registry)
    register_pack(prismaglow_pack)
    early.histogram("assistant.response_time", 250)  # milliseconds, converted by the pack's alias
    assert registry.get_sample_value("assistant_response_time_seconds_sum", {"responder": ""}) == 0.25


def test_instrument_registers_the_packs_of_a_service(without_packs: None) -> None:
    app = FastAPI(title="Billing API")

    @app.get("/invoices")
    async def invoices() -> dict[str, int]:
        glowops.metrics.counter("billing_invoices_failed", tags={"reason": "card_declined"})
        return {"failed": 1}

    glowops.instrument(
        app,
        Settings(ops_token="ops-token-for-the-pack-test-0123456789"),
        packs=[BILLING, "prismaglow"],
        log_stream=io.StringIO(),
        tracer=False,
        error_reporter=False,
        health=False,
        alerting=False,
    )
    assert [p.name for p in registered_packs()] == ["billing", "prismaglow"]
    with TestClient(app) as client:
        assert client.get("/invoices").status_code == 200
        body = client.get(
            "/metrics", headers={"Authorization": "Bearer ops-token-for-the-pack-test-0123456789"}
        ).text
    assert 'billing_invoices_failed_total{reason="card_declined"} 1.0' in body
    assert "# TYPE assistant_conversations_total counter" in body


def test_glowops_packs_setting_selects_installed_packs(
    without_packs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLOWOPS_PACKS", "prismaglow")
    assert active_packs(Settings()) == (prismaglow_pack,)
    monkeypatch.setenv("GLOWOPS_PACKS", "prismaglow,nope")
    with pytest.raises(PackError, match=r"no glowops pack named 'nope' \(installed packs: prismaglow\)"):
        active_packs(Settings())


def test_the_installed_pack_is_found_by_its_entry_point() -> None:
    assert "prismaglow" in available_packs()
    assert load_pack("prismaglow") is prismaglow_pack
    pyproject = Path(__file__).resolve().parents[2] / "packs" / "prismaglow" / "pyproject.toml"
    assert 'prismaglow = "glowops_prismaglow:pack"' in pyproject.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Pack(name="Billing"), "must match"),
        (lambda: Pack(name="glowops"), "reserved"),
        (
            lambda: Pack(name="twice", metrics=(MetricSpec("x_total_things", "gauge", "x"),) * 2),
            "declares metrics twice: x_total_things",
        ),
    ],
)
def test_a_malformed_pack_is_refused(make: Any, message: str) -> None:
    with pytest.raises(PackError, match=message):
        make()


def test_a_pack_cannot_take_a_metric_or_name_already_taken(without_packs: None) -> None:
    clash = Pack(name="clash", metrics=(MetricSpec("http_requests", "counter", "again", ("route",)),))
    with pytest.raises(PackError, match=r"already exist: http_requests \(declared by glowops\)"):
        register_pack(clash)
    assert registered_packs() == ()
    register_pack(prismaglow_pack)
    register_pack(prismaglow_pack)  # the same pack again: nothing changes
    with pytest.raises(PackError, match="another pack named 'prismaglow'"):
        register_pack(replace(prismaglow_pack, description="another"))
    with pytest.raises(PackError, match=r"needs a glowops\.packs\.Pack"):
        register_pack("prismaglow")  # type: ignore[arg-type]


def test_a_pack_in_code_reaches_rules_promtool_tests_and_dashboards(
    tmp_path: Path, without_packs: None
) -> None:
    from glowops.alerting.export import write_bundle
    from glowops.dashboards.catalog import build_dashboards

    register_pack(BILLING)
    with pytest.raises(ValueError, match="InvoicesFailing: no case where it fires"):
        write_bundle(tmp_path / "untested", Settings())  # every alert needs its promtool cases

    def cases(c: Any) -> None:
        c.spike(
            "invoices fail from 10m to 20m",
            "InvoicesFailing",
            "billing_invoices_failed_total",
            {"reason": "card_declined"},
            10,
            window=15,
            steps=10,
        )

    unregister_pack("billing")
    register_pack(replace(BILLING, rule_tests=cases))
    bundle = write_bundle(tmp_path / "b", Settings())
    rules = yaml.safe_load((tmp_path / "b" / "alerting_rules.yml").read_text())
    assert [g["name"] for g in rules["groups"]][-1] == "glowops-billing"
    tests = "".join((tmp_path / "b" / name).read_text() for name in bundle.files if name.startswith("rule_"))
    assert "invoices fail from 10m to 20m" in tests
    assert "glowops-billing" in {d.uid for d in build_dashboards(Settings())}


def test_the_cli_pack_option(tmp_path: Path, without_packs: None) -> None:
    runner = CliRunner()
    plain = runner.invoke(cli, ["alerts", "export", "--only", "prometheus", "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    with_pack = runner.invoke(
        cli,
        ["--pack", "prismaglow", "alerts", "export", "--only", "prometheus", "--out", str(tmp_path / "p")],
    )
    assert with_pack.exit_code == 0, with_pack.output
    plain_rules = (tmp_path / "plain" / "alerting_rules.yml").read_text()
    pack_rules = (tmp_path / "p" / "alerting_rules.yml").read_text()
    assert "DocumentQueueBacklog" not in plain_rules and "HighErrorRate" in plain_rules
    assert "DocumentQueueBacklog" in pack_rules and "HighErrorRate" in pack_rules
    assert "BackupStale" not in plain_rules  # no backups configured: no backup rules
    missing = runner.invoke(cli, ["--pack", "nope", "alerts", "export", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2
    assert "glowops: no glowops pack named 'nope' (installed packs: prismaglow)" in missing.output
    assert not (tmp_path / "x").exists()
