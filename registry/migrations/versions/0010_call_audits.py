"""Call audits: a supervisor's structured review of a call an operator handled (greeting and
identity check, correct action, trail complete, a score and a note), one per alert and handler.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_audits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False, index=True),
        sa.Column("handler", sa.String(100), nullable=False, index=True),
        sa.Column("auditor", sa.String(100), nullable=False),
        sa.Column("audited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("greeting_identity", sa.Boolean(), nullable=False),
        sa.Column("correct_action", sa.Boolean(), nullable=False),
        sa.Column("trail_complete", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("alert_id", "handler"),
    )


def downgrade() -> None:
    op.drop_table("call_audits")
