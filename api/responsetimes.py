"""Response times as the monitoring centre is measured on them: time to answer, time to attend and
time from alarm to outcome, for each alert, read from the alert and its trail.

- Answered: the first acknowledgement by monitoring-centre staff (an operator, admin or responder
  account). A family member's acknowledgement (an acknowledge link or a family account) stops
  escalation but is not the centre answering: such an alert counts as answered when staff first
  act on it afterwards (a call logged, a note, the resolution), and as never answered if they never
  do. An alert resolved by staff straight from raised was answered at its resolution.
- Attended: the first responder's ``attend`` event with step ``arrived``.
- Outcome: the resolution (``closed_at`` of a resolved alert).

Who counts as the centre is read from each trail event's actor (``alerts.actors``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from math import floor

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.actors import ANSWER_KINDS, by_centre, centre_answer
from tecwatch.api.reporting import cuts, raised_in
from tecwatch.registry.models import Alert, AlertEvent, AlertState, Outcome

ATTEND, ARRIVED = "attend", "arrived"
PRIORITIES = (1, 2, 3, 4)


@dataclass(frozen=True)
class AlertTimes:
    alert_id: int
    home_id: str
    priority: int
    state: AlertState
    outcome: Outcome | None
    raised_at: datetime
    answered_at: datetime | None  # by the monitoring centre
    family_acknowledged: bool  # acknowledged first by someone outside the centre
    arrived_at: datetime | None
    closed_at: datetime | None

    @property
    def decided(self) -> bool:
        """Answered, or closed without the centre answering (a miss); an open alert not yet answered is neither."""
        return self.answered_at is not None or self.state not in (AlertState.RAISED, AlertState.ACKNOWLEDGED)

    def answer_s(self) -> float | None:
        return _after(self.raised_at, self.answered_at)

    def attend_min(self) -> float | None:
        s = _after(self.raised_at, self.arrived_at)
        return None if s is None else s / 60

    def outcome_min(self) -> float | None:
        if self.state is not AlertState.RESOLVED:
            return None
        s = _after(self.raised_at, self.closed_at)
        return None if s is None else s / 60


def _after(start: datetime, end: datetime | None) -> float | None:
    # Clocks can disagree a little; nothing comes before its alert.
    return None if end is None else max(0.0, (end - start).total_seconds())


def alert_times(session: Session, start: date | None, end: date | None, district: str | None,
                priority: int | None = None) -> list[AlertTimes]:
    """Every alert raised in [start, end) (of one priority if given), with its times."""
    lo, hi = cuts(start, end)
    stmt = select(Alert.id, Alert.home_id, Alert.priority, Alert.state, Alert.outcome, Alert.raised_at,
                  Alert.acknowledged_at, Alert.acknowledged_by, Alert.closed_at)
    if priority is not None:
        stmt = stmt.where(Alert.priority == priority)
    alerts = session.execute(raised_in(stmt, lo, hi, district)).all()
    ids = select(Alert.id)
    if priority is not None:
        ids = ids.where(Alert.priority == priority)
    events = session.execute(
        select(AlertEvent.alert_id, AlertEvent.at, AlertEvent.actor, AlertEvent.kind, AlertEvent.detail)
        .where(AlertEvent.alert_id.in_(raised_in(ids, lo, hi, district).scalar_subquery()),
               AlertEvent.kind.in_((*ANSWER_KINDS, ATTEND)))
        .order_by(AlertEvent.at, AlertEvent.id))
    trails: dict[int, list[tuple[datetime, str | None]]] = {}
    arrived: dict[int, datetime] = {}
    for alert_id, at, actor, kind, detail in events:
        if kind == ATTEND:
            if (detail or {}).get("step") == ARRIVED:
                arrived.setdefault(alert_id, at)
        else:
            trails.setdefault(alert_id, []).append((at, actor))
    out = []
    for a in alerts:
        centre = a.acknowledged_at is not None and by_centre(a.acknowledged_by)
        answer = centre_answer(a.acknowledged_at, a.acknowledged_by, trails.get(a.id, ()))
        out.append(AlertTimes(
            alert_id=a.id, home_id=a.home_id, priority=a.priority, state=a.state, outcome=a.outcome,
            raised_at=a.raised_at, answered_at=answer[0] if answer else None,
            family_acknowledged=a.acknowledged_at is not None and not centre,
            arrived_at=arrived.get(a.id), closed_at=a.closed_at if a.state is AlertState.RESOLVED else None))
    return out


def quantile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (as numpy's default); None for no values."""
    if not ordered:
        return None
    pos = q * (len(ordered) - 1)
    lo = floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 1)


def month_of(t: datetime) -> str:
    return t.strftime("%Y-%m")
