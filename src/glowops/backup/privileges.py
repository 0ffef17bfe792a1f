"""What a restore drill may do as a role that is not superuser (only CREATEDB).

A drill's role owns the scratch database and, through ``pg_restore --no-owner``, every table
in it. Two things differ from a superuser's drill:

- tables that force row-level security hide their rows from their owner too, and the policies
  name the application's roles, not the drill's: the drill lifts FORCE on the scratch copy (the
  owner may) so the row counts it compares are the real ones;
- ``amcheck`` is not a trusted extension: only a superuser may create it. The drill uses it where
  it already exists (installed in ``template1``, hence in every scratch database) or can be
  created, and otherwise reports the check as skipped, saying why.
"""

from __future__ import annotations

from glowops.backup.pgconn import connect

_FORCED_TABLES = """
SELECT format('ALTER TABLE %I.%I NO FORCE ROW LEVEL SECURITY', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relforcerowsecurity AND c.relkind IN ('r', 'p') AND pg_has_role(c.relowner, 'USAGE')
"""

AMCHECK_PRESENT = "present"
AMCHECK_CREATABLE = "creatable"


async def unforce_row_security(url: str) -> int:
    """Lift FORCE ROW LEVEL SECURITY from the tables the connecting role owns; how many."""
    conn = await connect(url)
    try:
        statements = [row[0] for row in await conn.fetch(_FORCED_TABLES)]
        for statement in statements:
            await conn.execute(statement)
        return len(statements)
    finally:
        await conn.close()


async def amcheck_availability(url: str) -> tuple[str | None, str]:
    """``(AMCHECK_PRESENT | AMCHECK_CREATABLE | None, why)`` for the database at ``url``."""
    conn = await connect(url)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'"):
            return AMCHECK_PRESENT, "the amcheck extension is installed"
        available = await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'")
        if not available:
            return None, "the server has no amcheck extension"
        role, superuser = await conn.fetchrow(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        if superuser:
            return AMCHECK_CREATABLE, "amcheck will be created in the scratch database"
        return None, (
            f"the amcheck extension is not installed and {role} may not create it (only a "
            "superuser may): run CREATE EXTENSION amcheck in template1 once to enable this check"
        )
    finally:
        await conn.close()
