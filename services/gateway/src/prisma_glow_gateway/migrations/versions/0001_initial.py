"""Initial schema: orgs, users, audit trail, assistant, documents, approvals; RLS on PostgreSQL.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = "glowops_app"
# table -> column holding the organisation id (frozen copy: migrations never import models)
ORG_SCOPED = {
    "orgs": "id",
    "users": "org_id",
    "conversations": "org_id",
    "messages": "org_id",
    "tool_invocations": "org_id",
    "documents": "org_id",
    "document_events": "org_id",
    "approvals": "org_id",
}


def _ts(name: str, nullable: bool = False, index: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def _org() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("org_id", sa.String(36), sa.ForeignKey("orgs.id"), nullable=False, index=True)


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("mfa_secret", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False, index=True),
        sa.Column("reason", sa.String(80), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=True, index=True),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("route", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        _ts("created_at", index=True),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False, index=True
        ),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("responder", sa.String(40), nullable=True),
        _ts("created_at", index=True),
    )
    op.create_table(
        "tool_invocations",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column(
            "conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False, index=True
        ),
        sa.Column("tool", sa.String(60), nullable=False),
        sa.Column("arguments", sa.JSON, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("uploaded_by", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_path", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_table(
        "document_events",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("document_id", sa.String(36), sa.ForeignKey("documents.id"), nullable=False, index=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("document_id", sa.String(36), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("requested_by", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("mfa_required", sa.Boolean, nullable=False),
        sa.Column("overdue", sa.Boolean, nullable=False),
        _ts("due_at", index=True),
        sa.Column("decided_by", sa.String(36), sa.ForeignKey("users.id"), nullable=True),
        _ts("decided_at", nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=False),
        _ts("created_at"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _row_level_security()


def _row_level_security() -> None:
    """The application role and one org-isolation policy per org-scoped table.

    The gateway connects as the owner of the schema (it runs these migrations) and switches
    to ``glowops_app`` inside every org-scoped transaction. ``glowops_app`` owns nothing and
    is not a superuser, so the policies bind it; FORCE makes them bind the owner too, which
    keeps a service-wide policy for itself (login look-ups, the audit trail, gauges).
    """
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN RAISE EXCEPTION
                'role {APP_ROLE} does not exist and % may not create roles: run the SQL printed by '
                '`prisma-glow-gateway db roles` as a superuser first', current_user;
        END $$""")
    op.execute(f"""
        DO $$ BEGIN
            IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                EXECUTE 'GRANT {APP_ROLE} TO ' || quote_ident(current_user);
            END IF;
        -- A least-privilege owner may not grant roles; it does not need to (0002).
        EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN NULL;
        END $$""")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    for table, column in ORG_SCOPED.items():
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY org_isolation ON {table} TO {APP_ROLE} "
            f"USING ({column} = current_setting('app.org_id', true)) "
            f"WITH CHECK ({column} = current_setting('app.org_id', true))"
        )
        op.execute(f"CREATE POLICY service_access ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
    # The audit trail is written by the service only: the app role may not read or rewrite it.
    op.execute(f"REVOKE ALL ON security_events FROM {APP_ROLE}")


def downgrade() -> None:
    for table in (
        "approvals",
        "document_events",
        "documents",
        "tool_invocations",
        "messages",
        "conversations",
        "security_events",
        "users",
        "orgs",
    ):
        op.drop_table(table)
