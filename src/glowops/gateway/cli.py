"""``glowops serve`` and ``glowops db upgrade``: run the reference gateway and migrate its database."""

from __future__ import annotations

from typing import Annotated

import typer

from glowops.settings import load_settings

top = typer.Typer(help="Run the reference Prisma Glow gateway.")
db_app = typer.Typer(help="The gateway's database schema (Alembic migrations).", no_args_is_help=True)
top.add_typer(db_app, name="db")


@top.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default GLOWOPS_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GLOWOPS_PORT, 8000).")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also drive light demo traffic at the gateway.")
    ] = False,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before serving.")] = True,
) -> None:
    """Apply the migrations, then serve the gateway.

    Embedded defaults: a SQLite file under var/, no other service needed. Examples::

        glowops serve                                   # http://127.0.0.1:8000
        DATABASE_URL=postgresql://app@db/glow glowops serve --host 0.0.0.0
        glowops serve --demo                            # with built-in demo traffic
    """
    import uvicorn

    from glowops.gateway.migrate import upgrade

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if demo:
        overrides["demo"] = True
    settings = load_settings(**overrides)
    if migrate:
        upgrade(settings)
        typer.echo(
            f"glowops: database schema is current ({_describe(settings.effective_database_url)})", err=True
        )

    from glowops.gateway.app import create_app

    app = create_app(settings)
    typer.echo(f"glowops: serving the gateway on http://{settings.host}:{settings.port}", err=True)
    # uvicorn's access log is replaced by glowops' canonical access line.
    uvicorn.run(
        app, host=settings.host, port=settings.port, access_log=False, log_config=None, proxy_headers=False
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the gateway's migrations (safe to repeat). Example: ``glowops db upgrade``."""
    from glowops.gateway.migrate import current_revision, upgrade

    settings = load_settings()
    upgrade(settings, revision)
    typer.echo(
        f"database {_describe(settings.effective_database_url)} is at revision {current_revision(settings)}"
    )


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at (empty before the first upgrade)."""
    from glowops.gateway.migrate import current_revision

    typer.echo(current_revision(load_settings()) or "")


def _describe(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
