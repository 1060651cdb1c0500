"""Each home's learned routine as people read it, saved nightly by the alert service.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "home_baselines",
        sa.Column("home_id", sa.String(64), primary_key=True),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("learned", sa.Boolean(), nullable=False),
        sa.Column("days_of_history", sa.Integer(), nullable=False),
        sa.Column("wake_median_min", sa.Float(), nullable=False),
        sa.Column("up_by_min", sa.Float(), nullable=False),
        sa.Column("bed_median_min", sa.Float(), nullable=False),
        sa.Column("active_by_hour", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("home_baselines")
