"""Alert workers' leases (which workers are alive, so homes can be split between them) and when
each home's rules last held (so an episode raises one alert, whichever worker sees it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_workers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


    op.create_table(
        "rule_episodes",
        sa.Column("home_id", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(40), primary_key=True),
        sa.Column("last_held_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_episodes")
    op.drop_table("alert_workers")
