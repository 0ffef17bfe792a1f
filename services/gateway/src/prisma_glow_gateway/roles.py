"""The PostgreSQL login roles of a least-privilege deployment, and a check of the connecting one.

Four login roles, none of them superuser (docs/operations.md, "Database roles"):

- **owner** (``glowops_owner``): owns the schema, runs the migrations, reads no rows (FORCE RLS
  and no policy of its own);
- **gateway** (``glowops_gateway``): what the gateway connects as. NOINHERIT member of
  ``glowops_app`` and ``glowops_service``: it has no privilege of its own and gains one only
  through the ``SET ROLE`` the gateway issues in each transaction, so a connection whose role was
  reset (``RESET ROLE`` injected, a forgotten scope) reads nothing at all;
- **backup** (``glowops_backup``): BYPASSRLS and read-only, so ``pg_dump`` sees every row despite
  forced row-level security and cannot change any;
- **drill** (``glowops_drill``): CREATEDB only, for the restore drill's scratch databases.

Creating BYPASSRLS roles needs a superuser, once: :func:`provisioning_sql` is that SQL
(``prisma-glow-gateway db roles`` prints or applies it). The migrations then grant the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

APP_ROLE = "glowops_app"
SERVICE_ROLE = "glowops_service"
BACKUP_GROUP = "glowops_backup"


@dataclass(frozen=True)
class LoginRoles:
    """The login role names (and optional passwords) of one deployment."""

    owner: str = "glowops_owner"
    gateway: str = "glowops_gateway"
    backup: str = BACKUP_GROUP
    drill: str = "glowops_drill"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"role and database names are letters, digits and '_' only: {name!r}")
    return name


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create(role: str, options: str, password: str | None) -> str:
    secret = f" PASSWORD {_literal(password)}" if password else ""
    # ALTER as well as CREATE: re-running fixes a role created earlier with other options.
    return (
        "DO $$ BEGIN\n"
        f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN\n"
        f"    CREATE ROLE {role};\n"
        "  END IF;\n"
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;\n"
        "END $$;\n"
        f"ALTER ROLE {role} {options}{secret};"
    )


def provisioning_sql(
    database: str, roles: LoginRoles | None = None, passwords: dict[str, str] | None = None
) -> list[str]:
    """Idempotent statements a superuser runs once (``database`` must exist; owner gets it)."""
    r = roles or LoginRoles()
    pw = passwords or {}
    for name in (database, r.owner, r.gateway, r.backup, r.drill):
        _ident(name)
    return [
        _create(APP_ROLE, "NOLOGIN NOSUPERUSER NOBYPASSRLS", None),
        _create(SERVICE_ROLE, "NOLOGIN NOSUPERUSER NOBYPASSRLS", None),
        _create(r.owner, "LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS", pw.get("owner")),
        _create(
            r.gateway, "LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS", pw.get("gateway")
        ),
        _create(r.backup, "LOGIN BYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE", pw.get("backup")),
        _create(r.drill, "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOBYPASSRLS", pw.get("drill")),
        f"GRANT {APP_ROLE}, {SERVICE_ROLE} TO {r.gateway};",
        # Read-only by default: a backup session cannot write even by mistake.
        f"ALTER ROLE {r.backup} SET default_transaction_read_only = on;",
        f"ALTER DATABASE {database} OWNER TO {r.owner};",
        f"ALTER SCHEMA public OWNER TO {r.owner};",
        f"GRANT CONNECT ON DATABASE {database} TO {r.gateway}, {r.backup};",
        f"GRANT USAGE ON SCHEMA public TO {r.gateway};",
    ]


ROLE_FACTS_SQL = """
SELECT r.rolsuper, r.rolbypassrls, r.rolinherit,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relowner = r.oid AND n.nspname = 'public') AS owned,
       EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                WHERE m.member = r.oid AND g.rolname = 'glowops_service') AS service_member
FROM pg_roles r WHERE r.rolname = current_user
"""


def role_problems(facts: dict[str, object], user: str) -> list[str]:
    """What is wrong with connecting as ``user`` (row of :data:`ROLE_FACTS_SQL`); [] when fine."""
    problems = []
    if facts.get("rolsuper"):
        problems.append(f"{user} is a superuser: row-level security does not bind it")
    if facts.get("rolbypassrls"):
        problems.append(f"{user} has BYPASSRLS: row-level security does not bind it")
    if int(str(facts.get("owned") or 0)):
        problems.append(f"{user} owns tables: connect as a role that owns nothing (migrate as the owner)")
    if facts.get("rolinherit") and facts.get("service_member"):
        problems.append(f"{user} inherits glowops_service: make it NOINHERIT so a reset role reads nothing")
    return problems
