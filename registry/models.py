"""Registry tables (SQLAlchemy 2 declarative). SQLite by default, PostgreSQL in production.

Times are stored timezone-aware (UTC). Alert events and the registry audit are append-only.
Schema changes go through Alembic migrations (``registry/migrations``). Controlled lists live in
``registry/vocab.py``; the enrolment tables (access information, home contacts, the audit) in
``registry/records.py``, imported at the end so that one metadata holds every table. Records that
people edit carry a ``version``: the ORM checks it on every update (optimistic concurrency).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, Time, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecwatch.registry.base import Base, UTCDateTime, enum_column  # noqa: F401
# The enums are re-exported here: the rest of the platform imports them from this module.
from tecwatch.registry.vocab import (  # noqa: F401
    OPEN_STATES, AlertState, ConsentScope, ContactRole, DeviceRemovalReason, LeftReason, Mobility, NotificationStatus, Outcome,
    PrimaryNeed, ReferralSource, RemovalReason, ResidentStatus, ResponderKind, TestResult, UserRole,
)

_enum = enum_column
_LIST = text("'[]'")  # the server default of a JSON list column


def _version() -> Any:
    return mapped_column(default=1, server_default="1")


class Home(Base):
    __tablename__ = "homes"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the home_id used on MQTT
    address: Mapped[str] = mapped_column(Text, default="")  # the lines before the postcode
    postcode: Mapped[str] = mapped_column(String(10), default="", server_default="", index=True)  # "NR3 1AB"
    district: Mapped[str] = mapped_column(String(80), default="", index=True)
    postcode_area: Mapped[str] = mapped_column(String(8), default="", index=True)  # e.g. "NR3": what reports use
    uprn: Mapped[str | None] = mapped_column(String(12))  # the property's Unique Property Reference Number
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[datetime]
    version: Mapped[int] = _version()
    __mapper_args__ = {"version_id_col": version}

    residents: Mapped[list[Resident]] = relationship(back_populates="home")
    devices: Mapped[list[Device]] = relationship(back_populates="home")


class Resident(Base):
    __tablename__ = "residents"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # full name
    preferred_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    council_ref: Mapped[str | None] = mapped_column(String(40), unique=True)  # the council's own reference
    nhs_number: Mapped[str | None] = mapped_column(String(10), unique=True)
    date_of_birth: Mapped[date | None]
    dob_band: Mapped[str] = mapped_column(String(16), default="")  # e.g. "80-84": what reports use
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=_LIST)
    language: Mapped[str] = mapped_column(String(60), default="", server_default="")
    communication_needs: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=_LIST)
    conditions: Mapped[str] = mapped_column(Text, default="", server_default="")
    medication: Mapped[str] = mapped_column(Text, default="", server_default="")
    allergies: Mapped[str] = mapped_column(Text, default="", server_default="")
    mobility: Mapped[Mobility | None] = mapped_column(_enum(Mobility))
    risks: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=_LIST)
    gp_practice: Mapped[str] = mapped_column(String(200), default="", server_default="")
    primary_need: Mapped[PrimaryNeed] = mapped_column(_enum(PrimaryNeed), default=PrimaryNeed.OTHER)
    referral_source: Mapped[ReferralSource | None] = mapped_column(_enum(ReferralSource))
    referral_date: Mapped[date | None]
    status: Mapped[ResidentStatus] = mapped_column(_enum(ResidentStatus), default=ResidentStatus.MONITORING,
                                                   server_default=ResidentStatus.MONITORING.value, index=True)
    last_review_on: Mapped[date | None]
    next_review_on: Mapped[date | None] = mapped_column(index=True)
    left_at: Mapped[datetime | None]  # stopped living at home with the service
    left_reason: Mapped[LeftReason | None] = mapped_column(_enum(LeftReason))  # what reports count
    removal_reason: Mapped[RemovalReason | None] = mapped_column(_enum(RemovalReason))  # as recorded
    version: Mapped[int] = _version()
    __mapper_args__ = {"version_id_col": version}
    home: Mapped[Home] = relationship(back_populates="residents")


class FamilyConsent(Base):
    """The resident agrees that this family member may see their information (``scope``)."""

    __tablename__ = "family_consents"
    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"), index=True)
    # ConsentScope values; a consent recorded without saying agreed to all that the family view shows.
    scope: Mapped[list[str]] = mapped_column(JSON, default=lambda: [s.value for s in ConsentScope], server_default=_LIST)
    granted_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = _version()
    __mapper_args__ = {"version_id_col": version}


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("home_id", "device_id"),
        # A serial is fitted in one place at a time; a removed device may be fitted again elsewhere.
        Index("one_active_device_per_serial", "serial", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))  # a device type in the catalogue
    serial: Mapped[str | None] = mapped_column(String(64), index=True)
    room: Mapped[str | None] = mapped_column(String(64))  # a Room (older rows may hold other text)
    role: Mapped[ContactRole | None] = mapped_column(_enum(ContactRole))  # contact sensors only
    installed_at: Mapped[datetime]
    installed_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    tested_at: Mapped[datetime | None]
    tested_by: Mapped[str | None] = mapped_column(String(200))
    test_result: Mapped[TestResult | None] = mapped_column(_enum(TestResult))
    test_notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(200))
    removal_reason: Mapped[DeviceRemovalReason | None] = mapped_column(_enum(DeviceRemovalReason))
    version: Mapped[int] = _version()
    __mapper_args__ = {"version_id_col": version}
    home: Mapped[Home] = relationship(back_populates="devices")


class Gateway(Base):
    __tablename__ = "gateways"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), unique=True)
    broker_username: Mapped[str] = mapped_column(String(64), unique=True)  # its own platform account
    serial: Mapped[str] = mapped_column(String(64), default="")
    installed_at: Mapped[datetime]


class Responder(Base):
    __tablename__ = "responders"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ResponderKind] = mapped_column(_enum(ResponderKind))
    phones: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=_LIST)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = _version()
    __mapper_args__ = {"version_id_col": version}
    routes: Mapped[list[ContactRoute]] = relationship(
        back_populates="responder", order_by="ContactRoute.priority",
        primaryjoin="and_(Responder.id == ContactRoute.responder_id, ContactRoute.retired_at.is_(None))",
        viewonly=True)


class ContactRoute(Base):
    """How to reach a responder: an apprise URL (mailto://, ntfy://, an SMS gateway...) or a
    signed webhook. A route no longer used is retired, not deleted: notifications name it."""

    __tablename__ = "contact_routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "apprise" or "webhook"
    target: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(default=0)
    retired_at: Mapped[datetime | None]
    responder: Mapped[Responder] = relationship(back_populates="routes", viewonly=True)


class EscalationChain(Base):
    """Ordered steps for a home (or the default when home_id is null), optionally only for a
    time of day (e.g. family by day, monitoring centre at night). A chain no longer wanted is
    retired, not deleted: alerts name the chain they walked."""

    __tablename__ = "escalation_chains"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str | None] = mapped_column(ForeignKey("homes.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    active_from: Mapped[time | None] = mapped_column(Time)
    active_until: Mapped[time | None] = mapped_column(Time)
    retired_at: Mapped[datetime | None]
    version: Mapped[int] = _version()
    __mapper_args__ = {"version_id_col": version}
    steps: Mapped[list[EscalationStep]] = relationship(order_by="EscalationStep.position")


class EscalationStep(Base):
    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("chain_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("escalation_chains.id"), index=True)
    position: Mapped[int]
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"))
    # How long to wait for an acknowledgement before the next step.
    wait_minutes: Mapped[int] = mapped_column(default=5)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per home and rule: repeats attach to it.
        Index(
            "one_open_alert_per_home_rule", "home_id", "rule", unique=True,
            sqlite_where=text("state IN ('raised', 'acknowledged')"),
            postgresql_where=text("state IN ('raised', 'acknowledged')"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int]  # 1 = highest (pendant, fall, smoke, flood)
    state: Mapped[AlertState] = mapped_column(_enum(AlertState), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")  # why, with thresholds, for people
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]  # event time of what raised it
    raised_at: Mapped[datetime] = mapped_column(index=True)  # when the platform raised it
    last_seen_at: Mapped[datetime]  # event time of the latest repeat
    repeats: Mapped[int] = mapped_column(default=0)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    # Escalation: the chain chosen when raised, the last step taken, when the next is due.
    chain_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_chains.id"))
    escalation_step: Mapped[int] = mapped_column(default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(index=True)
    # The chain's steps as they were when the alert was raised: editing the chain later never
    # changes an escalation in progress. None for alerts raised before snapshots, or with no chain.
    escalation_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    events: Mapped[list[AlertEvent]] = relationship(order_by="AlertEvent.id", viewonly=True)


class Notification(Base):
    """One message to one responder route about one alert, retried with backoff until sent."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    step: Mapped[int]
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"))
    route_id: Mapped[int] = mapped_column(ForeignKey("contact_routes.id"))
    status: Mapped[NotificationStatus] = mapped_column(_enum(NotificationStatus), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class AlertEvent(Base):
    """Append-only audit: every transition, repeat, notification and escalation of an alert."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))  # raised, repeated, acknowledged, resolved, cancelled, notified...
    from_state: Mapped[AlertState | None] = mapped_column(_enum(AlertState))
    to_state: Mapped[AlertState | None] = mapped_column(_enum(AlertState))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    """Someone who signs in. Family members and responders are linked to their responder record,
    whose family consents decide which residents a family member may see."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(Text)  # argon2
    role: Mapped[UserRole] = mapped_column(_enum(UserRole))
    responder_id: Mapped[int | None] = mapped_column(ForeignKey("responders.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Every token carries the version it was issued under: raising it (a password reset or
    # change, disabling) ends every session of the account at once.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")


class RevokedToken(Base):
    """A signed-out token, refused until it would have expired anyway (then deleted)."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginFailures(Base):
    """Failed sign-ins per account or per client address, shared by every API worker: backoff
    between tries, then a temporary lock (see api/throttle.py)."""

    __tablename__ = "login_failures"
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # "account" or "address"
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)  # lower-cased username, or address
    failures: Mapped[int]
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None]


class ApiKey(Base):
    """A key for an integration; it acts as its user. Only a hash of the key is kept."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown to admins to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole key
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AccessLog(Base):
    """Every read of a person's data, and every refused attempt: who, when, what. Append-only:
    the database itself refuses UPDATE and DELETE (triggers, migration 0009)."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    # None for someone without an account: an acknowledge link's holder, the command line.
    role: Mapped[UserRole | None] = mapped_column(_enum(UserRole))
    action: Mapped[str] = mapped_column(String(80))  # e.g. "read home", "stream alert"
    # "allowed" (the data was sent) or "denied" (refused: the row says what was asked for).
    outcome: Mapped[str] = mapped_column(String(10), default="allowed", server_default="allowed", index=True)
    home_id: Mapped[str | None] = mapped_column(String(64), index=True)
    resident_id: Mapped[int | None] = mapped_column(index=True)
    alert_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(String(300), default="", server_default="")  # what was asked, or why refused


class DistrictPopulation(Base):
    """People aged 65 and over per district, as the council supplies them (for reach per 1,000)."""

    __tablename__ = "district_populations"
    district: Mapped[str] = mapped_column(String(80), primary_key=True)
    aged_65_plus: Mapped[int]
    source: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime]


class HomeBaseline(Base):
    """A home's learned routine as people read it, saved by each nightly learning, so the API
    can say whether today looks usual without learning anything itself."""

    __tablename__ = "home_baselines"
    home_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    learned_at: Mapped[datetime]
    learned: Mapped[bool]  # False: too little history yet, the defaults stand
    days_of_history: Mapped[int]
    wake_median_min: Mapped[float] = mapped_column(Float)  # local minutes after midnight
    up_by_min: Mapped[float] = mapped_column(Float)  # usually up by then (90th percentile of wake times)
    bed_median_min: Mapped[float] = mapped_column(Float)
    active_by_hour: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"0".."23": share of days active}
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # Baselines.explain()
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)  # Baselines.values(): what the rules judge by


class AlertWorker(Base):
    """A running alert worker's lease; homes are split between the workers whose lease is fresh."""

    __tablename__ = "alert_workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    joined_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)


class RuleEpisode(Base):
    """When a rule last held for a home, so one episode raises one alert whichever worker sees it."""

    __tablename__ = "rule_episodes"
    home_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_held_at: Mapped[datetime]


class AlarmReceipt(Base):
    """An alarm event already handled: a second copy of it (redelivered, retained, resent by a
    gateway) raises nothing. The key is what the device said: its time and sequence number."""

    __tablename__ = "alarm_receipts"
    home_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


from tecwatch.registry import records  # noqa: E402,F401  (the enrolment tables join this metadata)
from tecwatch.registry import callaudits  # noqa: E402,F401  (call audits join this metadata too)
