"""``glowops metrics``: the metric catalog from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The metric catalog: list it, generate docs/metrics.md.", no_args_is_help=True)


@app.command("docs")
def docs(
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when --out differs from the catalog."),
) -> None:
    """Generate the metrics reference from the catalog.

    Examples::

        glowops metrics docs --out docs/metrics.md
        glowops metrics docs --out docs/metrics.md --check   # in CI
    """
    from glowops.telemetry.docs import render_metrics_doc

    text = render_metrics_doc()
    if out is None:
        typer.echo(text, nl=False)
        return
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            typer.echo(f"{out} is out of date: run glowops metrics docs --out {out}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("list")
def list_metrics() -> None:
    """Print every catalogued metric: Prometheus name, type, labels.

    Example::

        glowops metrics list
    """
    from glowops.telemetry.catalog import CATALOG

    for spec in CATALOG:
        labels = ",".join(spec.labels)
        typer.echo(f"{spec.exposed_name:48} {spec.kind:10} {{{labels}}}")
