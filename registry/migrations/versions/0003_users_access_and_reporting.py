"""Users, API keys and the access log; when and why residents left; district populations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ROLE = sa.Enum("operator", "responder", "family", "commissioner", "admin", name="userrole", native_enum=False, length=40)
_LEFT = sa.Enum("residential_care", "hospital", "died", "moved_away", "service_ended", name="leftreason",
                native_enum=False, length=40)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", _ROLE, nullable=False),
        sa.Column("responder_id", sa.Integer(), sa.ForeignKey("responders.id"), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", _TS, nullable=False, index=True),
        sa.Column("username", sa.String(100), nullable=False, index=True),
        sa.Column("role", _ROLE, nullable=False),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("home_id", sa.String(64), nullable=True, index=True),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "district_populations",
        sa.Column("district", sa.String(80), primary_key=True),
        sa.Column("aged_65_plus", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    with op.batch_alter_table("residents") as batch:
        batch.add_column(sa.Column("left_at", _TS, nullable=True))
        batch.add_column(sa.Column("left_reason", _LEFT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("residents") as batch:
        batch.drop_column("left_reason")
        batch.drop_column("left_at")
    for table in ("district_populations", "access_log", "api_keys", "users"):
        op.drop_table(table)
