"""Sign-in security: a token version per user (a reset, password change or disabling ends every
session), signed-out tokens, and failed sign-ins per account and address (backoff and lockout
shared by every API worker).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("expires_at", _TS, nullable=False, index=True),
    )
    op.create_table(
        "login_failures",
        sa.Column("scope", sa.String(10), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", _TS, nullable=False, index=True),
        sa.Column("locked_until", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("revoked_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
