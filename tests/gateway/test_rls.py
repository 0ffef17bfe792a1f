"""PostgreSQL row-level security, proven without the application's own scoping.

Raw SQL runs as the gateway's role (``glowops_app``) with an organisation set, exactly as
the gateway's sessions do, but with no ``WHERE org_id = ...`` at all: the database alone
must hide and protect the other organisation's rows. The gateway connects as a least-privilege
login role (``glowops_gateway``: not superuser, not owner, not BYPASSRLS, NOINHERIT), so a
transaction whose role was reset reads nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from gateway_helpers import Delta, Gw, running_gateway, settings_for
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from peers import postgres_database
from prisma_glow_gateway.models import Document, new_id

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    for url in postgres_database("glowops_rls"):
        with running_gateway(settings_for("postgres", tmp_path_factory.mktemp("rls"), url), "postgres") as gw:
            yield gw


async def as_app_role(url: str, org_id: str | None, sql: str, *args: Any) -> Any:
    """Run one statement as glowops_app inside a transaction scoped to ``org_id``."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE glowops_app")
            if org_id is not None:
                await conn.execute("SELECT set_config('app.org_id', $1, true)", org_id)
            if sql.lstrip().upper().startswith("SELECT"):
                return await conn.fetch(sql, *args)
            return await conn.execute(sql, *args)
    finally:
        await conn.close()


def run(pg_gw: Gw, org_id: str | None, sql: str, *args: Any) -> Any:
    import asyncio

    return asyncio.run(as_app_role(pg_gw.settings.database_url, org_id, sql, *args))


def test_reads_see_only_the_current_org(pg_gw: Gw) -> None:
    acme, globex = pg_gw.orgs["acme"]["id"], pg_gw.orgs["globex"]["id"]
    acme_doc = pg_gw.committed_document("acme")
    globex_doc = pg_gw.committed_document("globex")
    rows = run(pg_gw, acme, "SELECT id, org_id FROM documents")  # no WHERE clause at all
    assert {r["org_id"] for r in rows} == {acme}
    assert acme_doc in {r["id"] for r in rows} and globex_doc not in {r["id"] for r in rows}
    assert run(pg_gw, acme, "SELECT id FROM documents WHERE id = $1", globex_doc) == []
    users = run(pg_gw, globex, "SELECT email FROM users")
    assert users and all(r["email"].endswith("@globex.example") for r in users)
    assert [r["id"] for r in run(pg_gw, acme, "SELECT id FROM orgs")] == [acme]


def test_no_org_set_means_no_rows(pg_gw: Gw) -> None:
    pg_gw.committed_document("acme")
    for table in ("documents", "users", "orgs", "approvals", "messages"):
        assert run(pg_gw, None, f"SELECT * FROM {table}") == [], table


def test_writes_to_another_org_are_refused_by_the_database(pg_gw: Gw) -> None:
    acme, globex = pg_gw.orgs["acme"]["id"], pg_gw.orgs["globex"]["id"]
    globex_doc = pg_gw.committed_document("globex")
    # UPDATE and DELETE cannot even see the row.
    assert run(pg_gw, acme, "UPDATE documents SET status = 'failed' WHERE id = $1", globex_doc) == "UPDATE 0"
    assert run(pg_gw, acme, "DELETE FROM document_events WHERE document_id = $1", globex_doc) == "DELETE 0"
    # Moving one's own row into another org, or inserting into it, violates WITH CHECK.
    acme_doc = pg_gw.committed_document("acme")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        run(pg_gw, acme, "UPDATE documents SET org_id = $1 WHERE id = $2", globex, acme_doc)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        run(
            pg_gw,
            acme,
            "INSERT INTO conversations (id, org_id, user_id, title, created_at) "
            "VALUES ($1, $2, $3, 'x', now())",
            new_id(),
            globex,
            pg_gw.user_id("globex", "viewer"),
        )
    status = run(pg_gw, globex, "SELECT status FROM documents WHERE id = $1", globex_doc)
    assert status[0]["status"] == "committed"


def test_the_app_role_cannot_read_the_audit_trail_or_bypass(pg_gw: Gw) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        run(pg_gw, pg_gw.orgs["acme"]["id"], "SELECT * FROM security_events")
    roles = run(pg_gw, None, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'glowops_app'")
    assert roles[0]["rolsuper"] is False and roles[0]["rolbypassrls"] is False
    forced = run(pg_gw, None, "SELECT relname FROM pg_class WHERE relforcerowsecurity AND relrowsecurity")
    assert {r["relname"] for r in forced} >= {
        "orgs",
        "users",
        "documents",
        "approvals",
        "messages",
        "conversations",
        "tool_invocations",
        "document_events",
    }


def test_gateway_sessions_are_scoped_by_the_database(pg_gw: Gw) -> None:
    """The gateway's own scoped session: an insert for another org fails in PostgreSQL."""
    acme, globex = pg_gw.orgs["acme"]["id"], pg_gw.orgs["globex"]["id"]

    async def sneak() -> None:
        async with pg_gw.gateway.db.scoped(acme) as session:
            session.add(
                Document(
                    org_id=globex,
                    uploaded_by=pg_gw.user_id("globex", "preparer"),
                    filename="x",
                    content_type="text/plain",
                    size_bytes=1,
                    sha256="0" * 64,
                    storage_path="/dev/null",
                    status="uploaded",
                )
            )
            await session.commit()

    with pytest.raises(DBAPIError, match="row-level security"):
        pg_gw.run(sneak)


def test_a_policy_refusal_inside_a_request_is_a_403_and_counted(pg_gw: Gw) -> None:
    """If application code ever writes across orgs, the database stops it and it is recorded."""
    from fastapi import Depends

    from prisma_glow_gateway.deps import Ctx, context

    globex = pg_gw.orgs["globex"]["id"]

    async def buggy_route(ctx: Ctx = Depends(context)) -> dict[str, str]:
        ctx.session.add(
            Document(
                org_id=globex,
                uploaded_by=ctx.user_id,
                filename="x",
                content_type="text/plain",
                size_bytes=1,
                sha256="0" * 64,
                storage_path="/dev/null",
                status="uploaded",
            )
        )
        await ctx.session.commit()
        return {"ok": "no"}

    pg_gw.client.app.add_api_route("/test/buggy-cross-org-write", buggy_route, methods=["POST"])  # type: ignore[attr-defined]
    with Delta() as d:
        response = pg_gw.client.post("/test/buggy-cross-org-write", headers=pg_gw.headers("acme", "preparer"))
    assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
    assert "outside your organisation" in response.json()["detail"]
    assert d("security_rls_denied_total", table="documents") == 1


def test_a_reset_role_inside_a_gateway_transaction_reads_nothing(pg_gw: Gw) -> None:
    """Injected ``RESET ROLE``: the connecting role itself holds no privilege on any table."""
    acme = pg_gw.orgs["acme"]["id"]
    pg_gw.committed_document("globex")

    async def reset_then_read(statement: str) -> Any:
        async with pg_gw.gateway.db.scoped(acme) as session:
            await session.execute(text(statement))
            return (await session.execute(text("SELECT id, org_id FROM documents"))).all()

    for statement in ("RESET ROLE", "SET ROLE NONE", "SET SESSION AUTHORIZATION DEFAULT"):
        with pytest.raises(DBAPIError, match="permission denied for table documents"):
            pg_gw.run(reset_then_read, statement)


def test_a_connection_without_a_scope_reads_nothing(pg_gw: Gw) -> None:
    """A raw connection as the gateway's login role (a forgotten scope) sees no table at all."""
    pg_gw.committed_document("acme")

    async def read() -> None:
        conn = await asyncpg.connect(pg_gw.settings.database_url)
        try:
            for table in ("documents", "users", "orgs", "approvals", "security_events"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.fetch(f"SELECT * FROM {table}")
        finally:
            await conn.close()

    asyncio.run(read())


def test_the_gateway_connects_as_a_least_privilege_role(pg_gw: Gw) -> None:
    from prisma_glow_gateway.roles import ROLE_FACTS_SQL, role_problems

    async def facts(url: str) -> tuple[str, dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval("SELECT current_user")), dict(await conn.fetchrow(ROLE_FACTS_SQL))
        finally:
            await conn.close()

    user, gateway_facts = asyncio.run(facts(pg_gw.settings.database_url))
    assert user == "glowops_gateway"
    assert gateway_facts["rolsuper"] is False and gateway_facts["rolbypassrls"] is False
    assert gateway_facts["owned"] == 0 and gateway_facts["rolinherit"] is False
    assert role_problems(gateway_facts, user) == []
    # The migrations ran as the owner, who reads no rows despite owning every table.
    owner, owner_facts = asyncio.run(facts(pg_gw.settings.migration_database_url))
    assert owner == "glowops_owner" and owner_facts["owned"] > 0 and owner_facts["rolsuper"] is False
    assert role_problems(owner_facts, owner) == [
        f"{owner} owns tables: connect as a role that owns nothing (migrate as the owner)"
    ]

    async def owner_count() -> int:
        conn = await asyncpg.connect(pg_gw.settings.migration_database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM documents"))
        finally:
            await conn.close()

    pg_gw.committed_document("acme")
    assert asyncio.run(owner_count()) == 0


def test_the_role_check_warns_about_a_role_rls_does_not_bind(pg_gw: Gw) -> None:
    from glowops.health.model import Status
    from prisma_glow_gateway.health import DatabaseRoleCheck

    fine = asyncio.run(DatabaseRoleCheck(pg_gw.settings.database_url).run())
    assert fine is not None and fine.status == Status.PASS and fine.observed_value == "glowops_gateway"
    owner = asyncio.run(DatabaseRoleCheck(pg_gw.settings.migration_database_url).run())
    assert owner is not None and owner.status == Status.WARN and "owns tables" in str(owner.output)
    superuser = pg_gw.settings.migration_database_url.replace("glowops_owner@", "postgres@")
    warned = asyncio.run(DatabaseRoleCheck(superuser).run())
    assert warned is not None and "superuser" in str(warned.output) and "BYPASSRLS" in str(warned.output)
