"""What the rules judge each home by (its learned limits), saved beside the routine in words, so
the family view can run the same rules as the alert service without learning anything itself.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows saved before this are read as "nothing learned yet" until the next night's learning.
    with op.batch_alter_table("home_baselines") as batch:
        batch.add_column(sa.Column("limits", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("home_baselines") as batch:
        batch.drop_column("limits")
