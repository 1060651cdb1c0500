"""What people do with alerts (list, look at, acknowledge, resolve), as plain functions over
the registry; the API and the CLI call these, never the tables directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.acklink import VALID_FOR, BadLink, check_token
from tecwatch.alerts.actors import ANSWER_KINDS, centre_answer
from tecwatch.alerts.lifecycle import add_note, transition
from tecwatch.registry.models import (
    OPEN_STATES, Alert, AlertEvent, AlertState, Notification, NotificationStatus, Outcome, Responder,
)


class AlertNotFound(LookupError):
    pass


@dataclass(frozen=True)
class TrailEntry:
    """One entry of an alert's audit trail."""

    at: datetime
    actor: str
    kind: str
    note: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class AlertView:
    id: int
    home_id: str
    rule: str
    priority: int
    state: str
    reason: str
    device_id: str | None
    occurred_at: datetime
    raised_at: datetime
    repeats: int
    acknowledged_at: datetime | None
    seconds_to_acknowledge: float | None
    acknowledged_by: str | None
    outcome: str | None
    escalation_step: int
    notifications_failed: int
    last_notification_error: str
    events: list[TrailEntry] = field(default_factory=list)


def _failures(s: Session, alert_ids: list[int]) -> dict[int, list[Notification]]:
    """Notifications that have failed at least once, newest first, for many alerts in one query."""
    out: dict[int, list[Notification]] = {i: [] for i in alert_ids}
    for n in s.scalars(select(Notification).where(Notification.alert_id.in_(alert_ids), Notification.last_error != "")
                       .order_by(Notification.id.desc())):
        out[n.alert_id].append(n)
    return out


def _view(a: Alert, failed: list[Notification], with_events: bool, staff: bool = True) -> AlertView:
    """``staff=False`` (a family member): what happened and when, without what staff wrote (notes
    may hold a key-safe code) or the workings of notifications."""
    events = [TrailEntry(e.at, e.actor, e.kind, e.note, e.detail) if staff else TrailEntry(e.at, e.actor, e.kind, "", {})
              for e in a.events if staff or e.kind != "note"] if with_events else []
    return AlertView(
        a.id, a.home_id, a.rule, a.priority, a.state.value, a.reason, a.device_id, a.occurred_at, a.raised_at,
        a.repeats, a.acknowledged_at,
        (a.acknowledged_at - a.raised_at).total_seconds() if a.acknowledged_at else None, a.acknowledged_by, a.outcome.value if a.outcome else None, a.escalation_step,
        sum(n.status is NotificationStatus.FAILED for n in failed), failed[0].last_error if failed and staff else "",
        events,
    )


@dataclass(frozen=True)
class AlertPage:
    items: list[AlertView]
    total: int
    limit: int
    offset: int


def list_alerts(engine: Engine, *, open_only: bool = True, home_id: str | None = None,
                visible: set[str] | None = None, limit: int = 200, offset: int = 0, staff: bool = True) -> AlertPage:
    """Most urgent first: priority, then oldest. ``visible``: only these homes (None: all);
    ``staff=False``: without notification errors (see ``_view``)."""
    with Session(engine) as s:
        q = select(Alert)
        if open_only:
            q = q.where(Alert.state.in_(OPEN_STATES))
        if home_id:
            q = q.where(Alert.home_id == home_id)
        if visible is not None:
            q = q.where(Alert.home_id.in_(sorted(visible)))
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        alerts = s.scalars(q.order_by(Alert.priority, Alert.raised_at, Alert.id).limit(limit).offset(offset)).all()
        failed = _failures(s, [a.id for a in alerts])
        return AlertPage([_view(a, failed[a.id], False, staff) for a in alerts], total, limit, offset)


@dataclass(frozen=True)
class SlowAcknowledgement:
    alert_id: int
    home_id: str
    rule: str
    priority: int
    raised_at: datetime
    acknowledged_at: datetime
    acknowledged_by: str | None
    seconds: float


@dataclass(frozen=True)
class SlowPage:
    items: list[SlowAcknowledgement]
    total: int
    limit: int
    offset: int


def slow_acknowledgements(engine: Engine, since: datetime | None = None, until: datetime | None = None, *,
                          over_s: float = 180.0, limit: int = 100, offset: int = 0) -> SlowPage:
    """Alerts raised in [since, until) that the monitoring centre answered more than ``over_s``
    seconds after, oldest first: the centre's exception list (commissioners get only how many).
    Answered as the response-time figures count it (``actors.centre_answer``): a family member's
    acknowledgement is not the centre answering, so such an alert is timed to staff's first act."""
    q = select(Alert.id, Alert.home_id, Alert.rule, Alert.priority, Alert.raised_at, Alert.acknowledged_at,
               Alert.acknowledged_by)
    if since is not None:
        q = q.where(Alert.raised_at >= since)
    if until is not None:
        q = q.where(Alert.raised_at < until)
    with Session(engine) as s:
        alerts = s.execute(q.order_by(Alert.raised_at, Alert.id)).all()
        trails: dict[int, list[tuple[datetime, str | None]]] = {}
        events = select(AlertEvent.alert_id, AlertEvent.at, AlertEvent.actor).where(
            AlertEvent.alert_id.in_(q.with_only_columns(Alert.id).scalar_subquery()),
            AlertEvent.kind.in_(ANSWER_KINDS)).order_by(AlertEvent.at, AlertEvent.id)
        for alert_id, at, actor in s.execute(events):
            trails.setdefault(alert_id, []).append((at, actor))
    slow = []
    for a in alerts:
        answer = centre_answer(a.acknowledged_at, a.acknowledged_by, trails.get(a.id, ()))
        # Compared here, not in SQL: SQLite keeps times as text, so the difference is not portable.
        if answer is not None and (seconds := (answer[0] - a.raised_at).total_seconds()) > over_s:
            slow.append(SlowAcknowledgement(a.id, a.home_id, a.rule, a.priority, a.raised_at, *answer,
                                            round(seconds, 1)))
    return SlowPage(slow[offset:offset + limit], len(slow), limit, offset)


def get_alert(engine: Engine, alert_id: int, visible: set[str] | None = None, *, staff: bool = True) -> AlertView:
    """One alert with its trail; ``staff=False`` leaves out staff notes (see ``_view``)."""
    with Session(engine) as s:
        a = s.get(Alert, alert_id)
        if a is None or (visible is not None and a.home_id not in visible):
            raise AlertNotFound(f"no alert {alert_id}")  # the same answer either way: nothing leaks
        return _view(a, _failures(s, [a.id])[a.id], True, staff)


def note(engine: Engine, alert_id: int, actor: str, text: str, visible: set[str] | None = None,
         at: datetime | None = None) -> AlertView:
    with Session(engine) as s, s.begin():
        a = s.get(Alert, alert_id)
        if a is None or (visible is not None and a.home_id not in visible):
            raise AlertNotFound(f"no alert {alert_id}")
        add_note(s, a, actor=actor, text=text, at=at or datetime.now(timezone.utc))
    return get_alert(engine, alert_id)


def _change(engine: Engine, alert_id: int, to: AlertState, actor: str, outcome: Outcome | None, note: str,
            at: datetime | None, visible: set[str] | None = None) -> AlertView:
    with Session(engine) as s, s.begin():
        a = s.get(Alert, alert_id)
        if a is None or (visible is not None and a.home_id not in visible):
            raise AlertNotFound(f"no alert {alert_id}")
        transition(s, a, to, actor=actor, at=at or datetime.now(timezone.utc), outcome=outcome, note=note)
    return get_alert(engine, alert_id)


def acknowledge(engine: Engine, alert_id: int, actor: str, note: str = "", at: datetime | None = None,
                visible: set[str] | None = None) -> AlertView:
    return _change(engine, alert_id, AlertState.ACKNOWLEDGED, actor, None, note, at, visible)


def check_link(engine: Engine, alert_id: int, token: str, secret: bytes, at: datetime,
               valid_for: timedelta = VALID_FOR) -> Responder:
    """The responder a link is for, if it is signed, current, and they were notified about this
    alert by its escalation; raises BadLink otherwise."""
    responder_id = check_token(secret, alert_id, token, at, valid_for)
    with Session(engine) as s:
        responder = s.get(Responder, responder_id)
        notified = s.scalar(select(Notification.id).where(Notification.alert_id == alert_id,
                                                          Notification.responder_id == responder_id).limit(1))
        if responder is None or not responder.active or notified is None:
            raise BadLink("this link is not valid for this alert")
        s.expunge(responder)
        return responder


def acknowledge_by_link(engine: Engine, alert_id: int, token: str, secret: bytes,
                        at: datetime | None = None, valid_for: timedelta = VALID_FOR) -> AlertView:
    """Acknowledge as the responder the signed link was sent to."""
    at = at or datetime.now(timezone.utc)
    responder = check_link(engine, alert_id, token, secret, at, valid_for)
    acknowledge(engine, alert_id, f"{responder.name} (acknowledge link)", at=at)
    return get_alert(engine, alert_id, staff=False)  # whoever holds the link is not staff


def resolve(engine: Engine, alert_id: int, actor: str, outcome: Outcome, note: str = "",
            at: datetime | None = None, visible: set[str] | None = None) -> AlertView:
    return _change(engine, alert_id, AlertState.RESOLVED, actor, outcome, note, at, visible)


@dataclass(frozen=True)
class AlertChange:
    """One entry of the alert trail, for live updates: ``event_id`` only ever grows."""

    event_id: int
    alert_id: int
    home_id: str
    kind: str
    state: str
    priority: int
    at: datetime


def latest_change(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.max(AlertEvent.id))) or 0


def changes_since(engine: Engine, event_id: int, visible: set[str] | None = None, limit: int = 500,
                  upto: int | None = None) -> list[AlertChange]:
    """Alert trail entries after ``event_id`` (and up to ``upto``), oldest first: written by any
    process, so a console stays current however many alert and API workers run."""
    with Session(engine) as s:
        q = (select(AlertEvent, Alert).join(Alert, Alert.id == AlertEvent.alert_id)
             .where(AlertEvent.id > event_id).order_by(AlertEvent.id).limit(limit))
        if upto is not None:
            q = q.where(AlertEvent.id <= upto)
        if visible is not None:
            q = q.where(Alert.home_id.in_(sorted(visible)))
        return [AlertChange(e.id, a.id, a.home_id, e.kind, a.state.value, a.priority, e.at) for e, a in s.execute(q)]
