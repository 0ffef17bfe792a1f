"""Writing a generated reference page (docs/metrics.md, alerts.md, dashboards.md) or checking it.

The ``docs`` command of each catalog calls :func:`emit_generated_doc`: the page goes to stdout,
or to ``--out``; with ``--check`` nothing is written and a stale page exits 1 (CI and the docs
tests use that).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def emit_generated_doc(text: str, out: Path | None, check: bool, command: str) -> None:
    """Print ``text``, write it to ``out``, or (``check``) compare ``out`` with it.

    ``command`` is the command that regenerates the page (``glowops metrics docs``), named in
    the message when the page is out of date.
    """
    if out is None:
        sys.stdout.write(text)
        return
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            click.echo(f"{out} is out of date: run `{command} --out {out}`", err=True)
            raise click.exceptions.Exit(1)
        click.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")
