"""Initial registry schema: homes, residents, devices, gateways, responders, escalation, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Dead letters predate the migrations (ingest created the table itself); adopt it.
    if not sa.inspect(op.get_bind()).has_table("dead_letters"):
        op.create_table(
            "dead_letters",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
            sa.Column("topic", sa.Text(), nullable=False),
            sa.Column("payload", sa.LargeBinary(), nullable=False),
            sa.Column("reason", sa.String(40), nullable=False, index=True),
            sa.Column("detail", sa.Text(), nullable=False),
        )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('home_id', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('raised', 'acknowledged', 'resolved', 'cancelled', name='alertstate', native_enum=False, length=40), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('repeats', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Enum('false_alarm', 'resolved_by_phone', 'responder_attended', 'ambulance_called', 'hospital_admission', 'admission_avoided', 'care_plan_reviewed', 'technical_fixed', name='outcome', native_enum=False, length=40), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_home_id'), ['home_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_raised_at'), ['raised_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_state'), ['state'], unique=False)
        batch_op.create_index('one_open_alert_per_home_rule', ['home_id', 'rule'], unique=True, sqlite_where=sa.text("state IN ('raised', 'acknowledged')"), postgresql_where=sa.text("state IN ('raised', 'acknowledged')"))

    op.create_table('homes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('district', sa.String(length=80), nullable=False),
    sa.Column('postcode_area', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('homes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_homes_district'), ['district'], unique=False)
        batch_op.create_index(batch_op.f('ix_homes_postcode_area'), ['postcode_area'], unique=False)

    op.create_table('responders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('operator', 'family', 'mobile', name='responderkind', native_enum=False, length=40), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('from_state', sa.Enum('raised', 'acknowledged', 'resolved', 'cancelled', name='alertstate', native_enum=False, length=40), nullable=True),
    sa.Column('to_state', sa.Enum('raised', 'acknowledged', 'resolved', 'cancelled', name='alertstate', native_enum=False, length=40), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_events_alert_id'), ['alert_id'], unique=False)

    op.create_table('contact_routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('responder_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['responder_id'], ['responders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_routes_responder_id'), ['responder_id'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('home_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=True),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('home_id', 'device_id')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_home_id'), ['home_id'], unique=False)

    op.create_table('escalation_chains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('home_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('active_from', sa.Time(), nullable=True),
    sa.Column('active_until', sa.Time(), nullable=True),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('escalation_chains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_chains_home_id'), ['home_id'], unique=False)

    op.create_table('gateways',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('home_id', sa.String(length=64), nullable=False),
    sa.Column('broker_username', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('broker_username'),
    sa.UniqueConstraint('home_id')
    )
    op.create_table('residents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('home_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('dob_band', sa.String(length=16), nullable=False),
    sa.Column('primary_need', sa.Enum('dementia', 'frailty', 'learning_disability', 'physical_disability', 'mental_health', 'sensory_impairment', 'other', name='primaryneed', native_enum=False, length=40), nullable=False),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_residents_home_id'), ['home_id'], unique=False)

    op.create_table('escalation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('responder_id', sa.Integer(), nullable=False),
    sa.Column('wait_minutes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['chain_id'], ['escalation_chains.id'], ),
    sa.ForeignKeyConstraint(['responder_id'], ['responders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chain_id', 'position')
    )
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_steps_chain_id'), ['chain_id'], unique=False)

    op.create_table('family_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('responder_id', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ),
    sa.ForeignKeyConstraint(['responder_id'], ['responders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('family_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_consents_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_consents_responder_id'), ['responder_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('family_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_consents_responder_id'))
        batch_op.drop_index(batch_op.f('ix_family_consents_resident_id'))

    op.drop_table('family_consents')
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_steps_chain_id'))

    op.drop_table('escalation_steps')
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_residents_home_id'))

    op.drop_table('residents')
    op.drop_table('gateways')
    with op.batch_alter_table('escalation_chains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_chains_home_id'))

    op.drop_table('escalation_chains')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_home_id'))

    op.drop_table('devices')
    with op.batch_alter_table('contact_routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_routes_responder_id'))

    op.drop_table('contact_routes')
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_events_alert_id'))

    op.drop_table('alert_events')
    op.drop_table('responders')
    with op.batch_alter_table('homes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_homes_postcode_area'))
        batch_op.drop_index(batch_op.f('ix_homes_district'))

    op.drop_table('homes')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('one_open_alert_per_home_rule', sqlite_where=sa.text("state IN ('raised', 'acknowledged')"), postgresql_where=sa.text("state IN ('raised', 'acknowledged')"))
        batch_op.drop_index(batch_op.f('ix_alerts_state'))
        batch_op.drop_index(batch_op.f('ix_alerts_raised_at'))
        batch_op.drop_index(batch_op.f('ix_alerts_home_id'))

    op.drop_table('alerts')
