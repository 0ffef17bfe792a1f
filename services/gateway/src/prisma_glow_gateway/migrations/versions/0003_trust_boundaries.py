"""MFA enrolment state and replay guard on users; revoked login tokens.

Revision ID: 0003_trust_boundaries
Revises: 0002_least_privilege
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_trust_boundaries"
down_revision = "0002_least_privilege"
branch_labels = None
depends_on = None

APP_ROLE = "glowops_app"
SERVICE_ROLE = "glowops_service"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("mfa_enrolled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("mfa_pending_secret", sa.String(64), nullable=True))
        batch.add_column(sa.Column("mfa_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Org-scoped requests run as the application role: they check the revocation list.
        op.execute(f"GRANT SELECT, INSERT, DELETE ON revoked_tokens TO {APP_ROLE}, {SERVICE_ROLE}")


def downgrade() -> None:
    op.drop_table("revoked_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("mfa_last_step")
        batch.drop_column("mfa_pending_secret")
        batch.drop_column("mfa_enrolled_at")
