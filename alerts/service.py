"""What people do with alerts (list, look at, acknowledge, resolve), as plain functions over
the registry; the API and the CLI call these, never the tables directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.acklink import check_token
from tecwatch.alerts.lifecycle import transition
from tecwatch.registry.models import (
    OPEN_STATES, Alert, AlertState, Notification, NotificationStatus, Outcome, Responder,
)


class AlertNotFound(LookupError):
    pass


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
    acknowledged_by: str | None
    outcome: str | None
    escalation_step: int
    notifications_failed: int
    last_notification_error: str
    events: list[dict[str, Any]] = field(default_factory=list)


def _failures(s: Session, alert_ids: list[int]) -> dict[int, list[Notification]]:
    """Notifications that have failed at least once, newest first, for many alerts in one query."""
    out: dict[int, list[Notification]] = {i: [] for i in alert_ids}
    for n in s.scalars(select(Notification).where(Notification.alert_id.in_(alert_ids), Notification.last_error != "")
                       .order_by(Notification.id.desc())):
        out[n.alert_id].append(n)
    return out


def _view(a: Alert, failed: list[Notification], with_events: bool) -> AlertView:
    return AlertView(
        a.id, a.home_id, a.rule, a.priority, a.state.value, a.reason, a.device_id, a.occurred_at, a.raised_at,
        a.repeats, a.acknowledged_by, a.outcome.value if a.outcome else None, a.escalation_step,
        sum(n.status is NotificationStatus.FAILED for n in failed), failed[0].last_error if failed else "",
        [{"at": e.at, "actor": e.actor, "kind": e.kind, "note": e.note, "detail": e.detail} for e in a.events]
        if with_events else [],
    )


def list_alerts(engine: Engine, *, open_only: bool = True, home_id: str | None = None,
                limit: int = 200) -> list[AlertView]:
    """Most urgent first: priority, then oldest."""
    with Session(engine) as s:
        q = select(Alert)
        if open_only:
            q = q.where(Alert.state.in_(OPEN_STATES))
        if home_id:
            q = q.where(Alert.home_id == home_id)
        alerts = s.scalars(q.order_by(Alert.priority, Alert.raised_at).limit(limit)).all()
        failed = _failures(s, [a.id for a in alerts])
        return [_view(a, failed[a.id], False) for a in alerts]


def get_alert(engine: Engine, alert_id: int) -> AlertView:
    with Session(engine) as s:
        a = s.get(Alert, alert_id)
        if a is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return _view(a, _failures(s, [a.id])[a.id], True)


def _change(engine: Engine, alert_id: int, to: AlertState, actor: str, outcome: Outcome | None, note: str,
            at: datetime | None) -> AlertView:
    with Session(engine) as s, s.begin():
        a = s.get(Alert, alert_id)
        if a is None:
            raise AlertNotFound(f"no alert {alert_id}")
        transition(s, a, to, actor=actor, at=at or datetime.now(timezone.utc), outcome=outcome, note=note)
    return get_alert(engine, alert_id)


def acknowledge(engine: Engine, alert_id: int, actor: str, note: str = "", at: datetime | None = None) -> AlertView:
    return _change(engine, alert_id, AlertState.ACKNOWLEDGED, actor, None, note, at)


def acknowledge_by_link(engine: Engine, alert_id: int, token: str, secret: bytes,
                        at: datetime | None = None) -> AlertView:
    """Acknowledge as the responder the signed link was sent to."""
    at = at or datetime.now(timezone.utc)
    responder_id = check_token(secret, alert_id, token, at)
    with Session(engine) as s:
        responder = s.get(Responder, responder_id)
        name = responder.name if responder else f"responder {responder_id}"
    return acknowledge(engine, alert_id, f"{name} (acknowledge link)", at=at)


def resolve(engine: Engine, alert_id: int, actor: str, outcome: Outcome, note: str = "",
            at: datetime | None = None) -> AlertView:
    return _change(engine, alert_id, AlertState.RESOLVED, actor, outcome, note, at)
