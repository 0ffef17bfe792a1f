"""``prisma-glow-gateway``: serve the reference gateway, migrate its database, drive demo traffic.

glowops' own commands (health, alerts, dashboards, backup, runbook, deploy) stay in ``glowops``;
this command line holds only what belongs to the gateway.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from glowops.settings import ConfigError
from prisma_glow_gateway.demo import app as demo_app
from prisma_glow_gateway.settings import load_settings

top = typer.Typer(
    name="prisma-glow-gateway",
    help="The reference Prisma Glow gateway: serve it, migrate its database, drive demo traffic at it. "
    "Its observability and operations commands are glowops' (`glowops --help`).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The gateway's database schema (Alembic migrations).", no_args_is_help=True)
top.add_typer(db_app, name="db")
top.add_typer(demo_app, name="demo")


@top.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default GLOWOPS_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GLOWOPS_PORT, 8000).")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also drive light demo traffic at the gateway.")
    ] = False,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before serving.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes sharing the port (default GLOWOPS_WORKERS, 1). "
            "In production about one per core.",
        ),
    ] = None,
) -> None:
    """Apply the migrations, then serve the gateway.

    Embedded defaults: a SQLite file under var/, no other service needed. Examples::

        prisma-glow-gateway serve                                   # http://127.0.0.1:8000
        DATABASE_URL=postgresql://app@db/glow prisma-glow-gateway serve --host 0.0.0.0
        prisma-glow-gateway serve --demo                            # with built-in demo traffic
        prisma-glow-gateway serve --workers 4 --host 0.0.0.0        # four processes, one port

    With several workers, /metrics of any worker sums them all, one worker runs the embedded
    alert engine and the backup schedule, and the console of any worker shows its samples.
    """
    import uvicorn

    from prisma_glow_gateway.migrate import upgrade

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if demo:
        overrides["demo"] = True
    if workers is not None:
        overrides["workers"] = workers
    settings = load_settings(**overrides)
    if migrate:
        upgrade(settings)
        typer.echo(
            f"prisma-glow-gateway: database schema is current ({_describe(settings.effective_database_url)})",
            err=True,
        )

    if settings.workers > 1:
        from glowops.serving import serve_workers

        typer.echo(
            f"prisma-glow-gateway: serving the gateway on http://{settings.host}:{settings.port} "
            f"with {settings.workers} workers",
            err=True,
        )
        if settings.demo:
            os.environ["GLOWOPS_DEMO"] = "true"  # the workers read their settings from the environment
        serve_workers("prisma_glow_gateway.app:create_app", settings, factory=True)
        return

    from prisma_glow_gateway.app import create_app

    app = create_app(settings)
    typer.echo(
        f"prisma-glow-gateway: serving the gateway on http://{settings.host}:{settings.port}", err=True
    )
    # uvicorn's access log is replaced by glowops' canonical access line.
    uvicorn.run(
        app, host=settings.host, port=settings.port, access_log=False, log_config=None, proxy_headers=False
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the gateway's migrations (safe to repeat). Example: ``prisma-glow-gateway db upgrade``."""
    from prisma_glow_gateway.migrate import current_revision, upgrade

    settings = load_settings()
    upgrade(settings, revision)
    typer.echo(
        f"database {_describe(settings.effective_database_url)} is at revision {current_revision(settings)}"
    )


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at (empty before the first upgrade)."""
    from prisma_glow_gateway.migrate import current_revision

    typer.echo(current_revision(load_settings()) or "")


def _describe(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Entry point of the ``prisma-glow-gateway`` script."""
    try:
        top()
    except ConfigError as err:
        typer.echo(f"prisma-glow-gateway: {err}", err=True)
        sys.exit(2)
