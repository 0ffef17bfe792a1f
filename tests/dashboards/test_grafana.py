"""The Grafana export: pinned JSON, what Grafana needs in it, the provisioning files, the CLI
and docs/dashboards.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from glowops.cli import app as cli
from glowops.dashboards.catalog import UIDS, build_dashboards
from glowops.dashboards.docs import render_dashboards_doc
from glowops.dashboards.grafana import (
    DATASOURCE_UID,
    dashboard_json,
    threshold_steps,
    write_grafana,
)
from glowops.dashboards.model import Threshold
from glowops.packs import register_pack, registered_packs, unregister_pack
from glowops.settings import Settings
from glowops_prismaglow import pack as prismaglow_pack
from glowops_prismaglow.dashboards import UIDS as PACK_UIDS

ALL_UIDS = UIDS + PACK_UIDS

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]


def test_golden_dashboards(default_settings: Settings, update_golden: bool, prismaglow: Any) -> None:
    """The generated JSON is pinned; regenerate with ``pytest tests/dashboards --update-golden``.

    glowops' dashboards (backup panels included) and the Prisma Glow pack's."""
    from glowops.alerting.export import catalog_from_settings

    stale = []
    catalog = catalog_from_settings(default_settings, backups=True)
    for dashboard in build_dashboards(default_settings, catalog=catalog):
        path = GOLDEN / f"{dashboard.uid}.json"
        text = dashboard_json(dashboard, default_settings)
        if update_golden:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path.name)
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(ALL_UIDS)
    assert stale == [], f"changed: {stale}; review and run pytest tests/dashboards --update-golden"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grafana")
    settings = Settings.model_construct(scrape_interval_seconds=5.0)
    registered = prismaglow_pack in registered_packs()
    register_pack(prismaglow_pack)  # as the gateway does: the pack's dashboards are exported too
    try:
        write_grafana(
            out, settings, dashboards_path="/srv/grafana/glowops", prometheus_url="http://prom:9090"
        )
    finally:
        if not registered:
            unregister_pack(prismaglow_pack.name)
    return out


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_dashboard_has_what_grafana_needs(exported: Path, prismaglow: Any) -> None:
    catalog = {d.uid: d for d in build_dashboards(Settings.model_construct())}
    for uid in ALL_UIDS:
        model = load(exported / "dashboards" / f"{uid}.json")
        assert model["uid"] == uid
        assert model["title"] == catalog[uid].title
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["datasource"]["current"]["value"] == DATASOURCE_UID
        org = variables["org_id"]
        assert org["type"] == "query"
        assert org["query"] == "label_values(org_id)"
        assert org["multi"] is True and org["includeAll"] is True and org["allValue"] == ".*"
        assert org["datasource"]["uid"] == "${datasource}"
        panels = model["panels"]
        assert [p["title"] for p in panels] == [p.title for p in catalog[uid].panels]
        assert len({p["id"] for p in panels}) == len(panels)
        for panel, source in zip(panels, catalog[uid].panels, strict=True):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["fieldConfig"]["defaults"]["unit"] == source.unit
            assert panel["description"].startswith(source.description)
            assert panel["type"] == source.kind
            assert [t["expr"] for t in panel["targets"]] == [q.expr for q in source.queries]
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert steps[0]["value"] is None
            assert len(steps) == len(source.thresholds) + 1
            for t in source.thresholds:
                assert t.alert in panel["description"]


def test_threshold_colour_steps(exported: Path) -> None:
    service = load(exported / "dashboards" / "glowops-service.json")
    by_title = {p["title"]: p for p in service["panels"]}
    latency = by_title["Duration p50 / p95 / p99 by route"]
    assert latency["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "orange", "value": 2.0},
        {"color": "red", "value": 5.0},
    ]
    assert latency["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    assistant = load(exported / "dashboards" / "glowops-assistant.json")
    cache = {p["title"]: p for p in assistant["panels"]}["Cache hit ratio (15 min)"]
    # below 80 % is bad: orange up to 0.8, green from 0.8
    assert cache["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "orange", "value": None},
        {"color": "green", "value": 0.8},
    ]
    # rules compare strictly: "> 0" must leave 0 green
    steps = threshold_steps((Threshold(0.0, "warning", "ApprovalsOverdue"),))
    assert steps[1].value is not None and 0 < steps[1].value < 1e-6
    with pytest.raises(ValueError, match="must all be 'above' or all 'below'"):
        threshold_steps((Threshold(1, "warning", "A"), Threshold(2, "critical", "B", "below")))


def test_provisioning_files(exported: Path) -> None:
    datasources = yaml.safe_load((exported / "provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["uid"] == "glowops-prometheus"
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prom:9090"
    assert source["jsonData"]["timeInterval"] == "5s"  # the scrape interval
    providers = yaml.safe_load((exported / "provisioning/dashboards/glowops.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/srv/grafana/glowops"
    assert sorted(p.name for p in (exported / "dashboards").iterdir()) == sorted(
        f"{u}.json" for u in ALL_UIDS
    )


def test_cli_export_list_and_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, without_packs: None
) -> None:
    monkeypatch.setenv("GLOWOPS_SCRAPE_INTERVAL_SECONDS", "30")
    runner = CliRunner()
    plain = runner.invoke(cli, ["dashboards", "export", "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    assert sorted(p.stem for p in (tmp_path / "plain" / "dashboards").iterdir()) == sorted(UIDS)
    result = runner.invoke(
        cli, ["--pack", "prismaglow", "dashboards", "export", "--out", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.output
    assert "glowops-security.json" in result.output
    source = yaml.safe_load((tmp_path / "g/provisioning/datasources/prometheus.yaml").read_text())
    assert source["datasources"][0]["jsonData"]["timeInterval"] == "30s"
    provider = yaml.safe_load((tmp_path / "g/provisioning/dashboards/glowops.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/glowops"

    listing = runner.invoke(cli, ["dashboards", "list"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0, listing.output
    for title in ("Assistant adoption", "Document pipeline", "Approvals SLA", "Security denials"):
        assert title in listing.output
    one = runner.invoke(cli, ["dashboards", "list", "glowops-service"], env={"COLUMNS": "250"})
    assert one.exit_code == 0 and "http_requests_total" in one.output
    missing = runner.invoke(cli, ["dashboards", "list", "glowops-nope"])
    assert missing.exit_code == 2

    doc = tmp_path / "dashboards.md"
    assert runner.invoke(cli, ["dashboards", "docs", "--out", str(doc), "--check"]).exit_code == 1
    assert runner.invoke(cli, ["dashboards", "docs", "--out", str(doc)]).exit_code == 0
    assert runner.invoke(cli, ["dashboards", "docs", "--out", str(doc), "--check"]).exit_code == 0


def test_docs_dashboards_md_is_up_to_date(without_packs: None, prismaglow: Any) -> None:
    path = REPO / "docs" / "dashboards.md"
    assert path.read_text(encoding="utf-8") == render_dashboards_doc(), (
        "run: glowops --pack prismaglow dashboards docs --out docs/dashboards.md"
    )
    text = path.read_text(encoding="utf-8")
    assert "`SlowResponsesP95`" in text and "glowops-operations" in text
