"""``glowops dashboards``: the dashboard catalog exported for Grafana, listed and documented."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glowops.dashboards.defaults import DEFAULT_DASHBOARDS_PATH, DEFAULT_PROMETHEUS_URL
from glowops.generated_docs import emit_generated_doc
from glowops.settings import load_settings

if TYPE_CHECKING:
    from glowops.dashboards.model import Dashboard

app = typer.Typer(
    help="The dashboard catalog: export it for Grafana, list its panels, generate docs/dashboards.md. "
    "The embedded console (/ops on the gateway) draws the same catalog.",
    no_args_is_help=True,
)


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into (created when missing).")],
    dashboards_path: Annotated[
        str,
        typer.Option(
            help="Where Grafana will find the dashboard JSON files: the path the dashboard provider "
            "(provisioning/dashboards/glowops.yaml) reads. Copy DIR/dashboards/*.json there."
        ),
    ] = DEFAULT_DASHBOARDS_PATH,
    prometheus_url: Annotated[
        str, typer.Option(help="URL Grafana uses to reach Prometheus (the data source's url).")
    ] = DEFAULT_PROMETHEUS_URL,
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
        typer.echo(f"wrote {path}  (uid {uid})")
    for path in result.provisioning:
        typer.echo(f"wrote {path}")


@app.command("list")
def list_dashboards(
    uid: Annotated[str | None, typer.Argument(help="Show one dashboard's panels with their queries.")] = None,
) -> None:
    """List the dashboards and their panels (unit, thresholds, org filter).

    Examples::

        glowops dashboards list
        glowops dashboards list glowops-service     # with the PromQL of each panel
    """
    from rich.console import Console
    from rich.table import Table

    from glowops.dashboards.catalog import build_dashboards, dashboard_by_uid

    dashboards = build_dashboards(load_settings())
    console = Console()
    if uid is not None:
        try:
            chosen: tuple[Dashboard, ...] = (dashboard_by_uid(dashboards, uid),)
        except KeyError as err:
            typer.echo(f"glowops dashboards: {err.args[0]}", err=True)
            raise typer.Exit(2) from None
    else:
        chosen = dashboards
    for dashboard in chosen:
        table = Table(title=f"{dashboard.title} ({dashboard.uid})", title_justify="left")
        for column in ("panel", "title", "unit", "org", "thresholds"):
            table.add_column(column)
        for panel in dashboard.panels:
            lines = ", ".join(
                f"{t.severity} {'<' if t.mode == 'below' else '>'} {t.value:g} ({t.alert})"
                for t in panel.thresholds
            )
            org = "yes" if panel.org_filtered else ""
            table.add_row(panel.key, panel.title, panel.unit, org, lines or "—")
        console.print(table)
        if uid is not None:  # one dashboard: its PromQL, one line per query, ready to paste
            for panel in dashboard.panels:
                console.print(f"[bold]{panel.key}[/bold]")
                for query in panel.queries:
                    line = f"  {query.ref_id}: {query.expr}"
                    console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command("docs")
def docs(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when --out differs from the catalog.")
    ] = False,
) -> None:
    """Generate the dashboards reference (every panel, query and threshold) from the catalog.

    Examples::

        glowops --pack prismaglow dashboards docs --out docs/dashboards.md
        glowops --pack prismaglow dashboards docs --out docs/dashboards.md --check   # in CI
    """
    from glowops.dashboards.docs import render_dashboards_doc

    text = render_dashboards_doc()
    emit_generated_doc(text, out, check, "glowops dashboards docs")
