"""``glowops dashboards``: the dashboard catalog exported for Grafana, listed and documented."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from glowops.clikit import PATH, Group, echo_markup, print_table
from glowops.dashboards.defaults import DEFAULT_DASHBOARDS_PATH, DEFAULT_PROMETHEUS_URL
from glowops.generated_docs import emit_generated_doc
from glowops.settings import load_settings

if TYPE_CHECKING:
    from glowops.dashboards.model import Dashboard

app = Group(
    help="The dashboard catalog: export it for Grafana, list its panels, generate docs/dashboards.md. "
    "The embedded console (/ops on the gateway) draws the same catalog.",
    no_args_is_help=True,
)


@app.command("export")
@click.option(
    "--out", "-o", "out", type=PATH, required=True, help="Directory to write into (created when missing)."
)
@click.option(
    "--dashboards-path",
    "dashboards_path",
    default=DEFAULT_DASHBOARDS_PATH,
    help=(
        "Where Grafana will find the dashboard JSON files: the path the dashboard provider "
        "(provisioning/dashboards/glowops.yaml) reads. Copy DIR/dashboards/*.json there."
    ),
    show_default=True,
)
@click.option(
    "--prometheus-url",
    "prometheus_url",
    default=DEFAULT_PROMETHEUS_URL,
    help="URL Grafana uses to reach Prometheus (the data source's url).",
    show_default=True,
)
def export(
    out: Path,
    dashboards_path: str,
    prometheus_url: str,
) -> None:
    """Write Grafana dashboards and provisioning files (scale-out deployment).

    Writes, under DIR:

    - dashboards/<uid>.json: glowops' dashboards and those of the packs in
      use (--pack, GLOWOPS_PACKS), with fixed uids, a $datasource and a
      multi-select $org_id variable;
    - provisioning/datasources/prometheus.yaml: the data source, uid
      glowops-prometheus, timeInterval = GLOWOPS_SCRAPE_INTERVAL_SECONDS;
    - provisioning/dashboards/glowops.yaml: a file provider reading
      --dashboards-path.

    Thresholds come from the alert rules: export again after changing
    GLOWOPS_DISK_WARN_PERCENT or similar settings.

    Examples::

        glowops dashboards export --out deploy/grafana
        glowops --pack prismaglow dashboards export --out deploy/grafana
        cp -r deploy/grafana/provisioning/* /etc/grafana/provisioning/
        mkdir -p /var/lib/grafana/dashboards/glowops
        cp deploy/grafana/dashboards/*.json \\
           /var/lib/grafana/dashboards/glowops/

        # Grafana in a container, Prometheus beside it:
        glowops dashboards export --out grafana \\
           --dashboards-path /dashboards \\
           --prometheus-url http://prometheus:9090
    """
    from glowops.dashboards.grafana import write_grafana

    settings = load_settings()
    result = write_grafana(out, settings, dashboards_path=dashboards_path, prometheus_url=prometheus_url)
    for uid, path in result.dashboards.items():
        click.echo(f"wrote {path}  (uid {uid})")
    for path in result.provisioning:
        click.echo(f"wrote {path}")


@app.command("list")
@click.argument("uid", default=None, required=False)
def list_dashboards(
    uid: str | None,
) -> None:
    """List the dashboards and their panels (unit, thresholds, org filter).

    Examples::

        glowops dashboards list
        glowops dashboards list glowops-service     # with the PromQL of each panel
    """
    from glowops.dashboards.catalog import build_dashboards, dashboard_by_uid

    dashboards = build_dashboards(load_settings())
    if uid is not None:
        try:
            chosen: tuple[Dashboard, ...] = (dashboard_by_uid(dashboards, uid),)
        except KeyError as err:
            click.echo(f"glowops dashboards: {err.args[0]}", err=True)
            raise click.exceptions.Exit(2) from None
    else:
        chosen = dashboards
    for dashboard in chosen:
        rows = []
        for panel in dashboard.panels:
            lines = ", ".join(
                f"{t.severity} {'<' if t.mode == 'below' else '>'} {t.value:g} ({t.alert})"
                for t in panel.thresholds
            )
            org = "yes" if panel.org_filtered else ""
            rows.append((panel.key, panel.title, panel.unit, org, lines or "—"))
        columns = ("panel", "title", "unit", "org", "thresholds")
        print_table(f"{dashboard.title} ({dashboard.uid})", columns, rows, title_justify="left")
        if uid is not None:  # one dashboard: its PromQL, one line per query, ready to paste
            for panel in dashboard.panels:
                echo_markup(f"[bold]{panel.key}[/bold]")
                for query in panel.queries:
                    line = f"  {query.ref_id}: {query.expr}"
                    echo_markup(line, markup=False)


@app.command("docs")
@click.option("--out", "-o", "out", type=PATH, default=None, help="Write here instead of stdout.")
@click.option(
    "--check", "check", is_flag=True, default=False, help="Exit 1 when --out differs from the catalog."
)
def docs(
    out: Path | None,
    check: bool,
) -> None:
    """Generate the dashboards reference (every panel, query and threshold) from the catalog.

    Examples::

        glowops --pack prismaglow dashboards docs --out docs/dashboards.md
        glowops --pack prismaglow dashboards docs --out docs/dashboards.md --check   # in CI
    """
    from glowops.dashboards.docs import render_dashboards_doc

    text = render_dashboards_doc()
    emit_generated_doc(text, out, check, "glowops dashboards docs")
