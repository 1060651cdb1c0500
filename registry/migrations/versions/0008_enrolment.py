"""Enrolment: residents' details and workflow status, homes' postcodes, devices' serials, rooms,
roles, installation and test records, responders' phones, consent scopes, home contacts, sealed
access information, the registry audit, versions for optimistic concurrency, and each alert's
snapshot of the escalation chain it walks.

Residents who had already left are marked removed; their removal reason stays unknown (it is
recorded, never inferred).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_LIST = sa.text("'[]'")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=40)


def _version() -> sa.Column:
    return sa.Column("version", sa.Integer(), nullable=False, server_default="1")


def _text(name: str, length: int | None = None) -> sa.Column:
    return sa.Column(name, sa.String(length) if length else sa.Text(), nullable=False, server_default="")


def upgrade() -> None:
    with op.batch_alter_table("homes") as batch:
        batch.add_column(_text("postcode", 10))
        batch.add_column(sa.Column("uprn", sa.String(12), nullable=True))
        batch.add_column(_version())
        batch.create_index(batch.f("ix_homes_postcode"), ["postcode"])
    with op.batch_alter_table("residents") as batch:
        batch.add_column(_text("preferred_name", 100))
        batch.add_column(sa.Column("council_ref", sa.String(40), nullable=True))
        batch.add_column(sa.Column("nhs_number", sa.String(10), nullable=True))
        batch.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch.add_column(sa.Column("phones", sa.JSON(), nullable=False, server_default=_LIST))
        batch.add_column(_text("language", 60))
        batch.add_column(sa.Column("communication_needs", sa.JSON(), nullable=False, server_default=_LIST))
        batch.add_column(_text("conditions"))
        batch.add_column(_text("medication"))
        batch.add_column(_text("allergies"))
        batch.add_column(sa.Column("mobility", _enum("mobility", "independent", "walking_aid", "wheelchair", "hoist",
                                                     "bedbound"), nullable=True))
        batch.add_column(sa.Column("risks", sa.JSON(), nullable=False, server_default=_LIST))
        batch.add_column(_text("gp_practice", 200))
        batch.add_column(sa.Column("referral_source", _enum("referralsource", "hospital_discharge", "social_worker", "gp",
                                                            "self", "family", "housing", "other"), nullable=True))
        batch.add_column(sa.Column("referral_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("status", _enum("residentstatus", "referral", "assessment", "installation",
                                                   "monitoring", "removed"), nullable=False,
                                   server_default="monitoring"))
        batch.add_column(sa.Column("last_review_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("next_review_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("removal_reason", _enum("removalreason", "died", "residential_care", "moved_away",
                                                           "no_longer_needed", "declined"), nullable=True))
        batch.add_column(_version())
        batch.create_unique_constraint("uq_residents_council_ref", ["council_ref"])
        batch.create_unique_constraint("uq_residents_nhs_number", ["nhs_number"])
        batch.create_index(batch.f("ix_residents_status"), ["status"])
        batch.create_index(batch.f("ix_residents_next_review_on"), ["next_review_on"])
    op.execute("UPDATE residents SET status = 'removed' WHERE left_at IS NOT NULL")
    with op.batch_alter_table("family_consents") as batch:
        batch.add_column(sa.Column("scope", sa.JSON(), nullable=False, server_default=_LIST))
        batch.add_column(_text("recorded_by", 200))
        batch.add_column(sa.Column("revoked_by", sa.String(200), nullable=True))
        batch.add_column(_version())
    # Consents recorded before scopes were agreed everything the family view shows.
    op.execute("""UPDATE family_consents SET scope = '["status", "alerts", "activity", "devices"]'""")
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("serial", sa.String(64), nullable=True))
        batch.add_column(sa.Column("role", _enum("contactrole", "entrance_door", "back_door", "internal_door", "fridge",
                                                 "cupboard", "medicine_cabinet"), nullable=True))
        batch.add_column(_text("installed_by", 200))
        batch.add_column(sa.Column("tested_at", _TS, nullable=True))
        batch.add_column(sa.Column("tested_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("test_result", _enum("testresult", "passed", "failed"), nullable=True))
        batch.add_column(_text("test_notes"))
        batch.add_column(sa.Column("removed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("removal_reason", _enum("deviceremovalreason", "faulty", "replaced", "no_longer_needed",
                                                           "resident_left", "declined", "lost"), nullable=True))
        batch.add_column(_version())
        batch.create_index(batch.f("ix_devices_serial"), ["serial"])
        batch.create_index("one_active_device_per_serial", ["serial"], unique=True,
                           sqlite_where=sa.text("removed_at IS NULL"), postgresql_where=sa.text("removed_at IS NULL"))
    with op.batch_alter_table("responders") as batch:
        batch.add_column(sa.Column("phones", sa.JSON(), nullable=False, server_default=_LIST))
        batch.add_column(_version())
    with op.batch_alter_table("contact_routes") as batch:
        batch.add_column(sa.Column("retired_at", _TS, nullable=True))
    with op.batch_alter_table("escalation_chains") as batch:
        batch.add_column(sa.Column("retired_at", _TS, nullable=True))
        batch.add_column(_version())
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("escalation_snapshot", sa.JSON(), nullable=True))
    op.create_table(
        "home_access",
        sa.Column("home_id", sa.String(64), sa.ForeignKey("homes.id"), primary_key=True),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _version(),
    )
    op.create_table(
        "home_contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("home_id", sa.String(64), sa.ForeignKey("homes.id"), nullable=False, index=True),
        sa.Column("responder_id", sa.Integer(), sa.ForeignKey("responders.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(60), nullable=False),
        sa.Column("key_holder", sa.Boolean(), nullable=False),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        _version(),
        sa.UniqueConstraint("home_id", "responder_id"),
    )
    op.create_table(
        "registry_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", _TS, nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("home_id", sa.String(64), nullable=True, index=True),
        sa.Column("resident_id", sa.Integer(), nullable=True, index=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Index("ix_registry_audit_entity", "entity", "entity_id"),
    )


def downgrade() -> None:
    op.drop_table("registry_audit")
    op.drop_table("home_contacts")
    op.drop_table("home_access")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalation_snapshot")
    with op.batch_alter_table("escalation_chains") as batch:
        batch.drop_column("version")
        batch.drop_column("retired_at")
    with op.batch_alter_table("contact_routes") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("responders") as batch:
        batch.drop_column("version")
        batch.drop_column("phones")
    with op.batch_alter_table("devices") as batch:
        batch.drop_index("one_active_device_per_serial")
        batch.drop_index(batch.f("ix_devices_serial"))
        for name in ("version", "removal_reason", "removed_by", "test_notes", "test_result", "tested_by", "tested_at",
                     "installed_by", "role", "serial"):
            batch.drop_column(name)
    with op.batch_alter_table("family_consents") as batch:
        for name in ("version", "revoked_by", "recorded_by", "scope"):
            batch.drop_column(name)
    with op.batch_alter_table("residents") as batch:
        batch.drop_index(batch.f("ix_residents_next_review_on"))
        batch.drop_index(batch.f("ix_residents_status"))
        batch.drop_constraint("uq_residents_nhs_number", type_="unique")
        batch.drop_constraint("uq_residents_council_ref", type_="unique")
        for name in ("version", "removal_reason", "next_review_on", "last_review_on", "status", "referral_date",
                     "referral_source", "gp_practice", "risks", "mobility", "allergies", "medication", "conditions",
                     "communication_needs", "language", "phones", "date_of_birth", "nhs_number", "council_ref",
                     "preferred_name"):
            batch.drop_column(name)
    with op.batch_alter_table("homes") as batch:
        batch.drop_index(batch.f("ix_homes_postcode"))
        for name in ("version", "uprn", "postcode"):
            batch.drop_column(name)
