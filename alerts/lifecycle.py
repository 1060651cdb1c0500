"""The alert lifecycle: raise (or attach a repeat), acknowledge, resolve with an outcome, cancel.

``transition`` is the only place an alert's state changes, and it always writes an audit event
with who and when. ``raise_alert`` keeps at most one open alert per home and rule: a repeat
attaches to the open one (the database enforces this too, for concurrent workers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecwatch.alerts.rules import RULES, priority
from tecwatch.registry.models import OPEN_STATES, Alert, AlertEvent, AlertState, Outcome

ALLOWED: dict[AlertState, frozenset[AlertState]] = {
    AlertState.RAISED: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED, AlertState.CANCELLED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.RESOLVED, AlertState.CANCELLED}),
    AlertState.RESOLVED: frozenset(),
    AlertState.CANCELLED: frozenset(),
}

# Read from the rules table (alerts/rules.py), kept under these names for the pages that show them.
PRIORITY: Mapping[str, int] = MappingProxyType({r.key: r.priority for r in RULES})
RULE_TITLES: Mapping[str, str] = MappingProxyType({r.key: r.title for r in RULES})


class TransitionError(ValueError):
    """The alert cannot go from its state to the one asked for (or an outcome is missing)."""


@dataclass(frozen=True)
class Raised:
    alert: Alert
    new: bool  # False: attached as a repeat to the open alert


def open_alert(session: Session, home_id: str, rule: str) -> Alert | None:
    return session.scalars(
        select(Alert).where(Alert.home_id == home_id, Alert.rule == rule, Alert.state.in_(OPEN_STATES))
    ).first()


def raise_alert(
    session: Session,
    *,
    home_id: str,
    rule: str,
    occurred_at: datetime,
    now: datetime,
    device_id: str | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    actor: str = "alert-engine",
    times: int = 1,
    new_episode: bool = False,
) -> Raised:
    """Open an alert, or attach this occurrence to the open one for the same home and rule.
    ``times`` > 1 attaches that many occurrences at once (a burst), as one trail event.

    ``new_episode``: the rule had stopped holding and holds again (a scheduled rule), so it must
    be seen, not attached quietly: an open alert nobody has taken yet is raised again with the
    new reason (returned as new, so its escalation starts again); one already acknowledged is
    closed as superseded and a new alert is opened, each naming the other in its trail (whoever
    took the old one sees where it went; the new one is answered, timed and escalated as itself).
    The caller commits; nothing is notified before that."""
    existing = open_alert(session, home_id, rule)
    superseded: Alert | None = None
    if existing is not None and new_episode and times == 1:
        if existing.state is AlertState.RAISED:
            existing.reason, existing.detail = reason, detail or {}
            existing.repeats += 1
            existing.last_seen_at = max(existing.last_seen_at, occurred_at)
            session.add(AlertEvent(alert_id=existing.id, at=now, actor=actor, kind="reraised", note=reason,
                                   detail={"occurred_at": occurred_at.isoformat(), "new_episode": True}))
            return Raised(existing, True)
        transition(session, existing, AlertState.CANCELLED, actor=actor, at=now,
                   note=f"superseded: the rule held again at {occurred_at.isoformat()} ({reason})")
        session.flush()
        superseded, existing = existing, None
    if existing is None and times == 1:
        follows = {"follows_alert": superseded.id} if superseded is not None else {}
        alert = Alert(
            home_id=home_id, rule=rule, priority=priority(rule), state=AlertState.RAISED,
            device_id=device_id, reason=reason, detail=(detail or {}) | follows, occurred_at=occurred_at,
            raised_at=now, last_seen_at=occurred_at, repeats=0,
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            # Another worker opened it between our look and our insert: attach to theirs.
            existing = open_alert(session, home_id, rule)
            if existing is None:
                raise
        else:
            session.add(AlertEvent(alert_id=alert.id, at=now, actor=actor, kind="raised",
                                   to_state=AlertState.RAISED, note=reason,
                                   detail={"occurred_at": occurred_at.isoformat()} | follows))
            if superseded is not None:
                add_note(session, superseded, actor=actor, at=now, text=f"superseded by alert {alert.id}")
            return Raised(alert, True)
    if existing is None:
        raise ValueError(f"no open {rule} alert at {home_id} to attach {times} repeats to")
    existing.repeats += times
    existing.last_seen_at = max(existing.last_seen_at, occurred_at)
    detail = {"occurred_at": occurred_at.isoformat(), "device_id": device_id}
    session.add(AlertEvent(alert_id=existing.id, at=now, actor=actor, kind="repeated", note=reason,
                           detail=detail if times == 1 else detail | {"times": times}))
    return Raised(existing, False)


def transition(
    session: Session,
    alert: Alert,
    to: AlertState,
    *,
    actor: str,
    at: datetime,
    outcome: Outcome | None = None,
    note: str = "",
) -> AlertEvent:
    """Move an alert to ``to`` and record who did it and when. The caller commits."""
    if to not in ALLOWED[alert.state]:
        raise TransitionError(f"alert {alert.id} is {alert.state}; it cannot become {to}")
    if to is AlertState.RESOLVED and outcome is None:
        raise TransitionError("resolving an alert needs an outcome")
    if to is not AlertState.RESOLVED and outcome is not None:
        raise TransitionError("only resolving records an outcome")
    before = alert.state
    alert.state = to
    if to is AlertState.ACKNOWLEDGED:
        alert.acknowledged_at, alert.acknowledged_by = at, actor
    elif to in (AlertState.RESOLVED, AlertState.CANCELLED):
        alert.closed_at, alert.outcome = at, outcome
    event = AlertEvent(alert_id=alert.id, at=at, actor=actor, kind=to.value, from_state=before, to_state=to,
                       note=note, detail={"outcome": outcome.value} if outcome else {})
    session.add(event)
    return event


def add_note(session: Session, alert: Alert, *, actor: str, text: str, at: datetime) -> AlertEvent:
    """A note on the alert's trail (a call made, a key-safe code used); the state does not change."""
    event = AlertEvent(alert_id=alert.id, at=at, actor=actor, kind="note", note=text)
    session.add(event)
    return event
