"""Notifications (retried with backoff, visible on the alert) and escalation progress on alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATUS = sa.Enum("pending", "sending", "sent", "failed", "cancelled", name="notificationstatus", native_enum=False, length=40)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False, index=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("responder_id", sa.Integer(), sa.ForeignKey("responders.id"), nullable=False),
        sa.Column("route_id", sa.Integer(), sa.ForeignKey("contact_routes.id"), nullable=False),
        sa.Column("status", _STATUS, nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("chain_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_alerts_next_escalation_at", ["next_escalation_at"])
        batch.create_foreign_key("fk_alerts_chain_id", "escalation_chains", ["chain_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("fk_alerts_chain_id", type_="foreignkey")
        batch.drop_index("ix_alerts_next_escalation_at")
        batch.drop_column("next_escalation_at")
        batch.drop_column("escalation_step")
        batch.drop_column("chain_id")
    op.drop_table("notifications")
