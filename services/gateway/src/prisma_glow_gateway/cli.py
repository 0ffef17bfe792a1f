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

    from glowops.serving import ProblemHTTPProtocol
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
        from glowops.workers import serve_workers

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
    # The problem-body protocol: even a request uvicorn cannot parse gets a problem+json 400.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        http=ProblemHTTPProtocol,
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


_PASSWORD_VARIABLES = {
    "owner": "GLOWOPS_DB_OWNER_PASSWORD",
    "gateway": "GLOWOPS_DB_GATEWAY_PASSWORD",
    "backup": "GLOWOPS_DB_BACKUP_PASSWORD",
    "drill": "GLOWOPS_DB_DRILL_PASSWORD",
}


@db_app.command("roles")
def db_roles(
    database: Annotated[str, typer.Option(help="The gateway's database (it must exist).")] = "glowops",
    apply: Annotated[
        str | None,
        typer.Option(
            "--apply",
            metavar="SUPERUSER_URL",
            help="Run the SQL on this connection (a superuser's, to the gateway's database) "
            "instead of printing it.",
        ),
    ] = None,
) -> None:
    """The least-privilege login roles (owner, gateway, backup, drill): print or apply their SQL.

    A superuser runs it once, before the first ``db upgrade``; it is idempotent. Passwords come
    from GLOWOPS_DB_OWNER_PASSWORD, GLOWOPS_DB_GATEWAY_PASSWORD, GLOWOPS_DB_BACKUP_PASSWORD and
    GLOWOPS_DB_DRILL_PASSWORD when set (printed SQL never carries them). Then connect the gateway
    as glowops_gateway (DATABASE_URL), migrate as glowops_owner (GLOWOPS_MIGRATION_DATABASE_URL),
    back up as glowops_backup and drill as glowops_drill. Examples::

        prisma-glow-gateway db roles | psql -U postgres -d glowops
        GLOWOPS_DB_GATEWAY_PASSWORD=... prisma-glow-gateway db roles \\
            --apply postgresql://postgres:...@db:5432/glowops
    """
    import os

    from prisma_glow_gateway.roles import provisioning_sql

    passwords = {role: os.environ[var] for role, var in _PASSWORD_VARIABLES.items() if os.environ.get(var)}
    try:
        statements = provisioning_sql(database, passwords=passwords if apply else None)
    except ValueError as err:
        typer.echo(f"prisma-glow-gateway: {err}", err=True)
        raise typer.Exit(2) from None
    if apply is None:
        typer.echo("\n".join(statements))
        return

    async def run() -> None:
        import asyncpg  # type: ignore[import-untyped]

        from glowops.settings import to_plain_url

        conn = await asyncpg.connect(to_plain_url(apply), timeout=10)
        try:
            async with conn.transaction():
                # Roles are cluster-wide: two deployments' jobs applying at once take turns.
                await conn.execute("SELECT pg_advisory_xact_lock(727274)")
                for statement in statements:
                    await conn.execute(statement)
        finally:
            await conn.close()

    import asyncio

    try:
        asyncio.run(run())
    except (OSError, TimeoutError) as err:
        typer.echo(f"prisma-glow-gateway: cannot reach {_describe(apply)}: {err}", err=True)
        raise typer.Exit(1) from None
    except Exception as err:  # asyncpg's errors: permission denied, unknown database
        typer.echo(f"prisma-glow-gateway: the roles were not created: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"roles ready for database {database}: " + ", ".join(sorted(_PASSWORD_VARIABLES)))


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
