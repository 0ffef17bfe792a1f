"""Backups and drills of the gateway's database as the least-privilege roles a runbook names.

The schema is the gateway's own (forced row-level security on every org-owned table), migrated
as its owner. The backup runs as ``glowops_backup`` (BYPASSRLS, read-only), the drill as
``glowops_drill`` (CREATEDB only): no superuser anywhere.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
from backup_helpers import invoke, manifests
from click.testing import CliRunner

from peers import PG_ADMIN_URL, least_privilege, with_user
from prisma_glow_gateway.migrate import upgrade
from prisma_glow_gateway.settings import GatewaySettings

pytestmark = pytest.mark.postgres


@pytest.fixture
def gateway_db(pg_url: str, tmp_path: Path) -> str:
    """The gateway's schema, migrated as its owner, with rows of three organisations."""
    owner_url, gateway_url = least_privilege(pg_url)
    upgrade(
        GatewaySettings(state_dir=tmp_path / "gw", database_url=gateway_url, migration_database_url=owner_url)
    )

    async def seed() -> None:
        conn = await asyncpg.connect(gateway_url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL ROLE glowops_service")
                for n in range(3):
                    await conn.execute(
                        "INSERT INTO orgs (id, slug, name, created_at) VALUES ($1, $2, $3, now())",
                        f"org-{n}",
                        f"org{n}",
                        f"Org {n}",
                    )
        finally:
            await conn.close()

    asyncio.run(seed())
    return pg_url


def test_the_owner_cannot_dump_under_forced_rls(gateway_db: str, backup_env: Path, cli: CliRunner) -> None:
    """Why the backup role exists: the schema owner's pg_dump stops at the first forced table."""
    code, out = invoke(cli, "run", "--database-url", with_user(gateway_db, "glowops_owner"), "--quiet")
    assert code != 0 and "row-level security" in out


def test_backup_and_drill_as_least_privilege_roles(gateway_db: str, backup_env: Path, cli: CliRunner) -> None:
    backup_url = with_user(gateway_db, "glowops_backup")
    code, out = invoke(cli, "run", "--database-url", backup_url, "--quiet")
    assert code == 0, out
    [manifest] = manifests(backup_env)
    assert manifest["status"] == "ok" and manifest["tables"]["public.orgs"] == 3

    # The backup role is read-only: a write fails even on a table it can read.
    async def write() -> None:
        conn = await asyncpg.connect(backup_url)
        try:
            await conn.execute("DELETE FROM orgs")
        finally:
            await conn.close()

    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        asyncio.run(write())

    drill_url = with_user(PG_ADMIN_URL, "glowops_drill")
    code, out = invoke(cli, "verify", manifest["id"], "--drill-url", drill_url, "--quiet")
    assert code == 0, out
    report = json.loads((backup_env / manifest["id"] / "drill-report.json").read_text())
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True and checks["row counts"]["ok"] is True
    assert "3 rows" in checks["row counts"]["detail"] or "rows match" in checks["row counts"]["detail"]
    # amcheck is not installed on the test server and only a superuser may create it.
    amcheck = checks["pg_amcheck"]
    assert amcheck["detail"].startswith("skipped:") and "glowops_drill may not create it" in amcheck["detail"]
