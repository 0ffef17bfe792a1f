"""Grafana export of the dashboard catalog, built with grafana-foundation-sdk.

``write_grafana(out, settings)`` writes::

    dashboards/<uid>.json                 one file per dashboard (fixed uid, $datasource, $org_id)
    provisioning/datasources/prometheus.yaml
                                          the Prometheus data source, uid glowops-prometheus,
                                          jsonData.timeInterval = the scrape interval
    provisioning/dashboards/glowops.yaml  a file provider reading the dashboards folder

Copy ``provisioning/*`` into Grafana's provisioning directory and ``dashboards/*.json`` to the
provider's path (``--dashboards-path``, default :data:`DEFAULT_DASHBOARDS_PATH`).

Colour steps follow Grafana's rule "a step applies from its value upwards": an ``above``
threshold (bad above the number) starts its colour at the number, a ``below`` threshold (bad
under it, like the cache hit ratio) paints the range under the number in its colour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, gauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dash_models

from glowops.dashboards.defaults import DEFAULT_DASHBOARDS_PATH, DEFAULT_PROMETHEUS_URL
from glowops.dashboards.model import Dashboard, Panel, Threshold
from glowops.promql import format_duration
from glowops.settings import Settings

DATASOURCE_UID = "glowops-prometheus"
DATASOURCE_NAME = "Prometheus (glowops)"
DATASOURCE_VAR = "datasource"
ORG_LABEL = "org_id"
FOLDER = "glowops"
DATASOURCE_FILE = Path("provisioning/datasources/prometheus.yaml")
PROVIDER_FILE = Path("provisioning/dashboards/glowops.yaml")
DASHBOARDS_DIR = Path("dashboards")

COLOURS = {"ok": "green", "warning": "orange", "critical": "red"}
_DS_REF = dash_models.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VAR}}}")
_BUILDERS: dict[str, Any] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "gauge": gauge.Panel,
    "bargauge": bargauge.Panel,
    "table": table.Panel,
}


def threshold_steps(thresholds: tuple[Threshold, ...]) -> list[dash_models.Threshold]:
    """Grafana colour steps for the thresholds of one panel (all ``above`` or all ``below``)."""
    if not thresholds:
        return [dash_models.Threshold(None, COLOURS["ok"])]
    modes = {t.mode for t in thresholds}
    if len(modes) > 1:
        raise ValueError("a panel's thresholds must all be 'above' or all 'below'")
    ordered = sorted(thresholds, key=lambda t: t.value)
    if modes == {"above"}:
        steps = [dash_models.Threshold(None, COLOURS["ok"])]
        # Grafana colours a value equal to the step; the rules compare strictly (> 0), so a
        # threshold of exactly 0 starts just above it or every empty queue would look bad.
        steps += [dash_models.Threshold(t.value if t.value else 1e-9, COLOURS[t.severity]) for t in ordered]
        return steps
    # below: under the lowest number is the worst colour; each number starts the next one up.
    steps = [dash_models.Threshold(None, COLOURS[ordered[0].severity])]
    for current, above in zip(ordered, [*ordered[1:], None], strict=True):
        steps.append(
            dash_models.Threshold(current.value, COLOURS[above.severity] if above else COLOURS["ok"])
        )
    return steps


def _panel(panel: Panel, panel_id: int) -> Any:
    builder = (
        _BUILDERS[panel.kind]()
        .id(panel_id)
        .title(panel.title)
        .description(_describe(panel))
        .unit(panel.unit)
        .datasource(_DS_REF)
        .span(panel.width)
        .height(panel.height)
        .thresholds(
            dash.ThresholdsConfig()
            .mode(dash_models.ThresholdsMode.ABSOLUTE)
            .steps(threshold_steps(panel.thresholds))
        )
    )
    for query in panel.queries:
        target = prom.Dataquery().expr(query.expr).ref_id(query.ref_id).datasource(_DS_REF)
        if query.legend:
            target = target.legend_format(query.legend)
        builder = builder.with_target(target)
    if panel.kind == "timeseries":
        builder = builder.legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
        )
        if panel.thresholds:
            builder = builder.thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(common_models.GraphTresholdsStyleMode.LINE)
            )
    elif panel.kind in ("stat", "gauge", "bargauge"):
        # The newest value, not the mean of the range: these panels answer "how is it now".
        builder = builder.reduce_options(
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        )
    return builder


def _describe(panel: Panel) -> str:
    """The catalog's description plus the lines and the alerts they come from."""
    if not panel.thresholds:
        return panel.description
    lines = ", ".join(
        f"{t.severity} {'below' if t.mode == 'below' else 'above'} {t.value:g} ({t.alert})"
        for t in panel.thresholds
    )
    return f"{panel.description} Thresholds: {lines}."


def build_grafana_dashboard(dashboard: Dashboard, settings: Settings) -> dict[str, Any]:
    """The Grafana JSON model of one catalog dashboard (a plain dict, ready for ``json.dumps``)."""
    datasource = (
        dash.DatasourceVariable(DATASOURCE_VAR)
        .label("Data source")
        .type("prometheus")
        .current(dash_models.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )
    orgs = (
        dash.QueryVariable(ORG_LABEL)
        .label("Organisation")
        .description("Filters the panels whose metrics carry org_id; the others cover all organisations.")
        .datasource(_DS_REF)
        .query(f"label_values({ORG_LABEL})")
        .refresh(dash_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dash_models.VariableOption(selected=True, text="All", value="$__all"))
    )
    refresh = format_duration(max(30.0, settings.scrape_interval_seconds * 2))
    builder = (
        dash.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
        .refresh(refresh)
        .tooltip(dash_models.DashboardCursorSync.CROSSHAIR)
        .with_variable(datasource)
        .with_variable(orgs)
        .link(
            dash.DashboardLink("glowops dashboards")
            .type(dash_models.DashboardLinkType.DASHBOARDS)
            .tags(["glowops"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for number, panel in enumerate(dashboard.panels, start=1):
        builder = builder.with_panel(_panel(panel, number))
    encoded: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return encoded


def dashboard_json(dashboard: Dashboard, settings: Settings) -> str:
    """The file text of one dashboard: sorted keys, two-space indent, trailing newline."""
    return json.dumps(build_grafana_dashboard(dashboard, settings), indent=2, sort_keys=True) + "\n"


def datasource_provisioning(
    settings: Settings, prometheus_url: str = DEFAULT_PROMETHEUS_URL
) -> dict[str, Any]:
    """``provisioning/datasources/prometheus.yaml`` as a dict."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "type": "prometheus",
                "uid": DATASOURCE_UID,
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
                # Grafana's $__rate_interval is at least four scrape intervals: it must know the
                # scrape interval, or short ranges hold fewer than two samples and rate() is empty.
                "jsonData": {
                    "timeInterval": format_duration(settings.scrape_interval_seconds),
                    "httpMethod": "POST",
                },
            }
        ],
    }


def dashboard_provisioning(dashboards_path: str = DEFAULT_DASHBOARDS_PATH) -> dict[str, Any]:
    """``provisioning/dashboards/glowops.yaml`` as a dict: a file provider for the JSON files."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "glowops",
                "orgId": 1,
                "folder": FOLDER,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }


@dataclass
class Export:
    """What :func:`write_grafana` wrote."""

    directory: Path
    dashboards: dict[str, Path] = field(default_factory=dict)
    provisioning: list[Path] = field(default_factory=list)


def write_grafana(
    out: Path,
    settings: Settings,
    dashboards: tuple[Dashboard, ...] | None = None,
    *,
    dashboards_path: str = DEFAULT_DASHBOARDS_PATH,
    prometheus_url: str = DEFAULT_PROMETHEUS_URL,
) -> Export:
    """Write the dashboards and the provisioning files into ``out`` (created when missing)."""
    from glowops.alerting.export import dump_yaml
    from glowops.dashboards.catalog import build_dashboards

    dashboards = dashboards if dashboards is not None else build_dashboards(settings)
    export = Export(directory=out)
    (out / DASHBOARDS_DIR).mkdir(parents=True, exist_ok=True)
    for dashboard in dashboards:
        path = out / DASHBOARDS_DIR / f"{dashboard.uid}.json"
        path.write_text(dashboard_json(dashboard, settings), encoding="utf-8")
        export.dashboards[dashboard.uid] = path
    for relative, data in (
        (DATASOURCE_FILE, datasource_provisioning(settings, prometheus_url)),
        (PROVIDER_FILE, dashboard_provisioning(dashboards_path)),
    ):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(data), encoding="utf-8")
        export.provisioning.append(path)
    return export
