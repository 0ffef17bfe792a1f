"""Least-privilege roles: service-wide access through a role, not through the connecting one.

Revision ID: 0002_least_privilege
Revises: 0001_initial
Create Date: 2026-12-02

Before this revision the connecting role (the schema owner) read every organisation's rows
through a ``service_access`` policy of its own, so a connection that lost its ``SET ROLE`` saw
everything. Now:

- ``glowops_app`` (org-scoped, as before) and ``glowops_service`` (service-wide: log-in look-ups,
  the audit trail, gauges, seeding) are NOLOGIN roles the gateway switches to in every
  transaction; the policies name them and nobody else;
- the owner keeps no policy: with FORCE ROW LEVEL SECURITY it sees no rows at all;
- ``glowops_backup`` may read every table (``pg_dump`` also needs BYPASSRLS under forced RLS,
  which only a superuser can grant: ``prisma-glow-gateway db roles`` prints that SQL).

The login roles (owner, gateway, backup, drill) are the deployment's: see docs/operations.md.
"""

from __future__ import annotations

from alembic import op

revision = "0002_least_privilege"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

APP_ROLE = "glowops_app"
SERVICE_ROLE = "glowops_service"
BACKUP_ROLE = "glowops_backup"
# frozen copy of 0001's list: migrations never import models
ORG_SCOPED = (
    "orgs",
    "users",
    "conversations",
    "messages",
    "tool_invocations",
    "documents",
    "document_events",
    "approvals",
)


def _ensure_role(role: str) -> None:
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN RAISE EXCEPTION
                'role {role} does not exist and % may not create roles: run the SQL printed by '
                '`prisma-glow-gateway db roles` as a superuser first', current_user;
        END $$""")


def _join_if_allowed(role: str) -> None:
    """Let a connecting owner (single-URL set-ups, development) switch to ``role`` too."""
    op.execute(f"""
        DO $$ BEGIN
            IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
                EXECUTE 'GRANT {role} TO ' || quote_ident(current_user);
            END IF;
        EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN NULL;
        END $$""")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _ensure_role(SERVICE_ROLE)
    _ensure_role(BACKUP_ROLE)
    _join_if_allowed(SERVICE_ROLE)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {SERVICE_ROLE}, {BACKUP_ROLE}")
    for table in ORG_SCOPED:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SERVICE_ROLE}")
        op.execute(f"DROP POLICY IF EXISTS service_access ON {table}")
        op.execute(
            f"CREATE POLICY service_role_access ON {table} TO {SERVICE_ROLE} USING (true) WITH CHECK (true)"
        )
    # The audit trail: written and read by the service only (no RLS: it is not org-owned data).
    op.execute(f"GRANT SELECT, INSERT ON security_events TO {SERVICE_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE security_events_id_seq TO {SERVICE_ROLE}")
    # Backups read everything, now and in later migrations run by this owner.
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {BACKUP_ROLE}")
    op.execute(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {BACKUP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {BACKUP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO {BACKUP_ROLE}")
    # Any role may see that the schema is current (``serve`` checks before it starts).
    op.execute("GRANT SELECT ON alembic_version TO PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("REVOKE SELECT ON alembic_version FROM PUBLIC")
    for table in ORG_SCOPED:
        op.execute(f"DROP POLICY IF EXISTS service_role_access ON {table}")
        op.execute(f"CREATE POLICY service_access ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
        op.execute(f"REVOKE ALL ON {table} FROM {SERVICE_ROLE}")
    op.execute(f"REVOKE ALL ON security_events FROM {SERVICE_ROLE}")
