"""The access log: what each row's outcome was (allowed or denied) and what was asked for, rows
for people without an account (an acknowledge link's holder, the command line), an index to find
a resident's rows, and triggers that make the table append-only at the database: UPDATE and
DELETE (and TRUNCATE on PostgreSQL) are refused, whoever asks.

A later migration that rebuilds this table (SQLite's batch mode copies it to a new one) drops its
triggers with it and must create them again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_REFUSED = "access_log is append-only"
_SQLITE = [f"CREATE TRIGGER access_log_no_{verb.lower()} BEFORE {verb} ON access_log "
           f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}: {verb} refused'); END" for verb in ("UPDATE", "DELETE")]
_POSTGRES = [
    f"""CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{_REFUSED}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""",
    # Statement triggers: an UPDATE or DELETE is refused even when it matches no row.
    "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON access_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only()",
]


def upgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.alter_column("role", existing_type=sa.String(40), nullable=True)
        batch.add_column(sa.Column("outcome", sa.String(10), nullable=False, server_default="allowed"))
        batch.add_column(sa.Column("detail", sa.String(300), nullable=False, server_default=""))
        batch.create_index("ix_access_log_outcome", ["outcome"])
        batch.create_index("ix_access_log_resident_id", ["resident_id"])
    # After the rebuild above: SQLite's batch mode would drop triggers made before it.
    for statement in _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER access_log_append_only ON access_log")
        op.execute("DROP FUNCTION access_log_append_only()")
    else:
        op.execute("DROP TRIGGER access_log_no_update")
        op.execute("DROP TRIGGER access_log_no_delete")
    with op.batch_alter_table("access_log") as batch:
        batch.drop_index("ix_access_log_resident_id")
        batch.drop_index("ix_access_log_outcome")
        batch.drop_column("detail")
        batch.drop_column("outcome")
        # The role stays optional: making it required again would mean changing logged rows.
