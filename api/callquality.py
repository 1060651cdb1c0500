"""Call quality: the calls each call handler (an operator or admin account) handled in a month,
a supervisor's audit of some of them, and audits per handler against the TEC quality standard of
at least two call audits per call handler a month.

A handler handled an alert when the alert trail records them acknowledging it, logging a call,
writing a note or resolving it (api/responsetimes.py reads the actor). Months are UTC months of
when the alert was raised, as in the reports."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecwatch.alerts.actors import ANSWER_KINDS, actor_role, handler_name
from tecwatch.registry.callaudits import CallAudit
from tecwatch.registry.models import Alert, AlertEvent, Outcome

AUDITS_PER_HANDLER = 2  # the TEC quality standard, per call handler a month
HANDLER_ROLES = ("operator", "admin")
MONTH = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"  # the years reports cover


class CallQualityError(ValueError):
    """The audit cannot be recorded (see ``status``)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class AuditIn(BaseModel):
    alert_id: int = Field(ge=1, le=2**31 - 1)
    handler: str = Field(min_length=1, max_length=100)
    greeting_identity: bool = Field(description="Greeted the caller and checked who they were speaking to")
    correct_action: bool = Field(description="Took the right action for the call")
    trail_complete: bool = Field(description="Every action and the outcome are in the alert's trail")
    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")
    note: str = Field("", max_length=2000)


class Audit(AuditIn):
    id: int
    auditor: str
    audited_at: datetime


class HandledCall(BaseModel):
    alert_id: int
    home_id: str
    rule: str
    priority: int
    raised_at: datetime
    outcome: Outcome | None
    handler: str
    actions: list[str]  # the kinds of trail entry the handler made, in order
    audit: Audit | None


class HandlerMonth(BaseModel):
    handler: str
    handled: int
    audited: int
    required: int = AUDITS_PER_HANDLER
    meets_standard: bool


class CallQualityMonth(BaseModel):
    month: str
    audits_per_handler: int = AUDITS_PER_HANDLER
    handlers: list[HandlerMonth]


def month_range(month: str) -> tuple[datetime, datetime]:
    if not re.match(MONTH, month or ""):
        raise CallQualityError(f"{month!r} is not a month (YYYY-MM)", 422)
    year, m = int(month[:4]), int(month[5:])
    start = datetime(year, m, 1, tzinfo=UTC)
    return start, datetime(year + m // 12, m % 12 + 1, 1, tzinfo=UTC)


def this_month(today: date) -> str:
    return today.strftime("%Y-%m")


def _audit(a: CallAudit) -> Audit:
    return Audit(id=a.id, alert_id=a.alert_id, handler=a.handler, greeting_identity=a.greeting_identity,
                 correct_action=a.correct_action, trail_complete=a.trail_complete, score=a.score, note=a.note,
                 auditor=a.auditor, audited_at=a.audited_at)


def _handler(actor: str) -> str | None:
    return handler_name(actor) if actor_role(actor) in HANDLER_ROLES else None


def handled_calls(session: Session, month: str, handler: str | None = None) -> list[HandledCall]:
    """Each handler's part in each alert raised in the month, oldest alert first."""
    lo, hi = month_range(month)
    rows = session.execute(
        select(Alert.id, Alert.home_id, Alert.rule, Alert.priority, Alert.raised_at, Alert.outcome,
               AlertEvent.actor, AlertEvent.kind)
        .join(AlertEvent, AlertEvent.alert_id == Alert.id)
        .where(Alert.raised_at >= lo, Alert.raised_at < hi, AlertEvent.kind.in_(ANSWER_KINDS))
        .order_by(Alert.raised_at, Alert.id, AlertEvent.at, AlertEvent.id))
    calls: dict[tuple[int, str], HandledCall] = {}
    for alert_id, home_id, rule, priority, raised_at, outcome, actor, kind in rows:
        name = _handler(actor)
        if name is None or (handler is not None and name != handler):
            continue
        call = calls.setdefault((alert_id, name), HandledCall(
            alert_id=alert_id, home_id=home_id, rule=rule, priority=priority, raised_at=raised_at, outcome=outcome,
            handler=name, actions=[], audit=None))
        call.actions.append(kind)
    if calls:
        for a in session.scalars(select(CallAudit).where(CallAudit.alert_id.in_({k[0] for k in calls}))):
            if (a.alert_id, a.handler) in calls:
                calls[(a.alert_id, a.handler)].audit = _audit(a)
    return list(calls.values())


def month_summary(session: Session, month: str) -> CallQualityMonth:
    """Calls handled and audited per handler in the month, against the standard."""
    handled: defaultdict[str, int] = defaultdict(int)
    audited: defaultdict[str, int] = defaultdict(int)
    for call in handled_calls(session, month):
        handled[call.handler] += 1
        audited[call.handler] += call.audit is not None
    return CallQualityMonth(month=month, handlers=[
        HandlerMonth(handler=h, handled=handled[h], audited=audited[h], meets_standard=audited[h] >= AUDITS_PER_HANDLER)
        for h in sorted(handled)])


def record_audit(session: Session, auditor: str, body: AuditIn, now: datetime) -> Audit:
    """Audit one handler's part in one alert; the caller commits."""
    alert = session.get(Alert, body.alert_id)
    if alert is None:
        raise CallQualityError(f"there is no alert {body.alert_id}", 404)
    actors = session.scalars(select(AlertEvent.actor).where(AlertEvent.alert_id == alert.id,
                                                            AlertEvent.kind.in_(ANSWER_KINDS)))
    if body.handler not in {_handler(a) for a in actors}:
        raise CallQualityError(f"{body.handler} did not handle alert {alert.id}", 422)
    audit = CallAudit(alert_id=alert.id, handler=body.handler, auditor=auditor, audited_at=now,
                      greeting_identity=body.greeting_identity, correct_action=body.correct_action,
                      trail_complete=body.trail_complete, score=body.score, note=body.note.strip())
    try:
        with session.begin_nested():
            session.add(audit)
            session.flush()
    except IntegrityError:
        raise CallQualityError(f"{body.handler}'s call on alert {alert.id} is already audited", 409) from None
    return _audit(audit)
