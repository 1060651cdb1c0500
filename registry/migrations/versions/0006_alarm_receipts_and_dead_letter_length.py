"""Alarm receipts (each alarm event handled once, however often it is delivered: redelivery,
a retained copy, a gateway resending) and the original length of a dead letter whose payload
is kept only in part.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_receipts",
        sa.Column("home_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), primary_key=True),
        # The device's own time and sequence number: what a copy of the same event repeats.
        sa.Column("event_key", sa.String(80), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    # A table adopted from before migrations may have been made from today's definition.
    if "payload_length" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("dead_letters")}:
        with op.batch_alter_table("dead_letters") as batch:
            batch.add_column(sa.Column("payload_length", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("payload_length")
    op.drop_table("alarm_receipts")
