"""``glowops metrics``: the metric catalog from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from glowops.clikit import PATH, Group
from glowops.generated_docs import emit_generated_doc

app = Group(help="The metric catalog: list it, generate docs/metrics.md.", no_args_is_help=True)


@app.command("docs")
@click.option("--out", "-o", "out", type=PATH, default=None, help="Write here instead of stdout.")
@click.option(
    "--check", "check", is_flag=True, default=False, help="Exit 1 when --out differs from the catalog."
)
def docs(
    out: Path | None,
    check: bool,
) -> None:
    """Generate the metrics reference from the catalog.

    Examples::

        glowops --pack prismaglow metrics docs --out docs/metrics.md
        glowops --pack prismaglow metrics docs --out docs/metrics.md --check   # in CI
    """
    from glowops.telemetry.docs import render_metrics_doc

    text = render_metrics_doc()
    emit_generated_doc(text, out, check, "glowops metrics docs")


@app.command("list")
def list_metrics() -> None:
    """Print every catalogued metric: Prometheus name, type, labels (glowops', then the packs').

    Examples::

        glowops metrics list
        glowops --pack prismaglow metrics list
    """
    from glowops.packs import active_packs
    from glowops.settings import load_settings
    from glowops.telemetry.catalog import all_specs

    active_packs(load_settings())
    for spec in all_specs():
        labels = ",".join(spec.labels)
        click.echo(f"{spec.exposed_name:48} {spec.kind:10} {{{labels}}}")
