"""Registry tables (SQLAlchemy 2 declarative). SQLite by default, PostgreSQL in production.

Times are stored timezone-aware (UTC). Alert events are append-only: the audit trail of every
alert's life. Schema changes go through Alembic migrations (``registry/migrations``).
"""

from __future__ import annotations

import enum
from datetime import datetime, time, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum, Float, ForeignKey, Index, String, Text, Time, TypeDecorator, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("registry times must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


def _enum(e: type[enum.Enum]) -> Enum:
    # Stored as plain strings with a CHECK, so adding a member is a small migration everywhere.
    return Enum(e, native_enum=False, length=40, values_callable=lambda members: [m.value for m in members])


class PrimaryNeed(enum.StrEnum):
    DEMENTIA = "dementia"
    FRAILTY = "frailty"
    LEARNING_DISABILITY = "learning_disability"
    PHYSICAL_DISABILITY = "physical_disability"
    MENTAL_HEALTH = "mental_health"
    SENSORY_IMPAIRMENT = "sensory_impairment"
    OTHER = "other"


class ResponderKind(enum.StrEnum):
    OPERATOR = "operator"  # monitoring-centre operator
    FAMILY = "family"
    MOBILE = "mobile"  # mobile responder who visits


class AlertState(enum.StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


OPEN_STATES = (AlertState.RAISED, AlertState.ACKNOWLEDGED)


class Outcome(enum.StrEnum):
    FALSE_ALARM = "false_alarm"
    RESOLVED_BY_PHONE = "resolved_by_phone"
    RESPONDER_ATTENDED = "responder_attended"
    AMBULANCE_CALLED = "ambulance_called"
    HOSPITAL_ADMISSION = "hospital_admission"
    ADMISSION_AVOIDED = "admission_avoided"
    CARE_PLAN_REVIEWED = "care_plan_reviewed"
    TECHNICAL_FIXED = "technical_fixed"  # a device or hub fault put right


class Home(Base):
    __tablename__ = "homes"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the home_id used on MQTT
    address: Mapped[str] = mapped_column(Text, default="")
    district: Mapped[str] = mapped_column(String(80), default="", index=True)
    postcode_area: Mapped[str] = mapped_column(String(8), default="", index=True)  # e.g. "NR3"; never full
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[datetime]

    residents: Mapped[list[Resident]] = relationship(back_populates="home")
    devices: Mapped[list[Device]] = relationship(back_populates="home")


class LeftReason(enum.StrEnum):
    """Why someone stopped living at home with the service: what "still at home" counts against."""

    RESIDENTIAL_CARE = "residential_care"
    HOSPITAL = "hospital"  # a long stay, not an admission they came home from
    DIED = "died"
    MOVED_AWAY = "moved_away"
    SERVICE_ENDED = "service_ended"  # declined or no longer needed, still living at home


class UserRole(enum.StrEnum):
    OPERATOR = "operator"  # monitoring centre: every alert and home
    RESPONDER = "responder"  # mobile responder: alerts and homes, no reports
    FAMILY = "family"  # only the residents who consented, through their responder record
    COMMISSIONER = "commissioner"  # aggregates only: never names, addresses or dates of birth
    ADMIN = "admin"


class Resident(Base):
    __tablename__ = "residents"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    dob_band: Mapped[str] = mapped_column(String(16), default="")  # e.g. "80-84": no exact dates needed
    primary_need: Mapped[PrimaryNeed] = mapped_column(_enum(PrimaryNeed), default=PrimaryNeed.OTHER)
    left_at: Mapped[datetime | None]  # stopped living at home with the service
    left_reason: Mapped[LeftReason | None] = mapped_column(_enum(LeftReason))
    home: Mapped[Home] = relationship(back_populates="residents")


class FamilyConsent(Base):
    """The resident agrees that this family member may see their information."""

    __tablename__ = "family_consents"
    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"), index=True)
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("home_id", "device_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))  # a device type in the catalogue
    room: Mapped[str | None] = mapped_column(String(64))
    installed_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
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
    active: Mapped[bool] = mapped_column(default=True)
    routes: Mapped[list[ContactRoute]] = relationship(back_populates="responder", order_by="ContactRoute.priority")


class ContactRoute(Base):
    """How to reach a responder: an apprise URL (mailto://, ntfy://, an SMS gateway...) or a
    signed webhook."""

    __tablename__ = "contact_routes"
    id: Mapped[int] = mapped_column(primary_key=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "apprise" or "webhook"
    target: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(default=0)
    responder: Mapped[Responder] = relationship(back_populates="routes")


class EscalationChain(Base):
    """Ordered steps for a home (or the default when home_id is null), optionally only for a
    time of day (e.g. family by day, monitoring centre at night)."""

    __tablename__ = "escalation_chains"
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str | None] = mapped_column(ForeignKey("homes.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    active_from: Mapped[time | None] = mapped_column(Time)
    active_until: Mapped[time | None] = mapped_column(Time)
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
    events: Mapped[list[AlertEvent]] = relationship(order_by="AlertEvent.id", viewonly=True)


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    SENDING = "sending"  # claimed by one dispatcher
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt; visible on the alert
    CANCELLED = "cancelled"  # the alert was acknowledged or closed before it went


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
    """Every read of a person's data: who, when, what (append-only)."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[UserRole] = mapped_column(_enum(UserRole))
    action: Mapped[str] = mapped_column(String(80))  # e.g. "GET /api/homes/{home_id}"
    home_id: Mapped[str | None] = mapped_column(String(64), index=True)
    resident_id: Mapped[int | None]
    alert_id: Mapped[int | None]


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
