"""A responder's attendance at an alert: "on my way", "arrived" and "left", each with its time,
in the alert's trail (events of kind ``attend``, detail ``{"step", "responder_id"}``).

An open alert is assigned to a responder when the monitoring centre's call log says so (an event
of kind ``call`` whose action is ``responder_on_way`` or ``mobile_sent``, naming the responder).
Only that responder (through the account linked to their responder record), or monitoring-centre
staff on their behalf, may mark attendance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote_plus

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import RULE_TITLES
from tecwatch.alerts.service import AlertNotFound
from tecwatch.registry.models import OPEN_STATES, Alert, AlertEvent, Home, Resident, Responder, UserRole

STEPS = ("on_my_way", "arrived", "left")
STEP_LABELS = {"on_my_way": "On my way", "arrived": "Arrived", "left": "Left"}
ASSIGNING_ACTIONS = ("responder_on_way", "mobile_sent")
# Who may mark attendance for an assigned responder (who phoned in, say): the monitoring centre.
FOR_OTHERS = frozenset({UserRole.OPERATOR, UserRole.ADMIN, UserRole.COORDINATOR})
# A responder still in a home keeps the alert on their list after it closes, to mark "left".
STILL_THERE_FOR = timedelta(hours=24)
# Only a link: the responder's phone opens it; nothing is fetched from here.


class NotAssigned(PermissionError):
    """This account may not mark attendance at this alert (refused, and logged as denied)."""


class AttendanceError(ValueError):
    """The step does not follow from what is already marked (answered 409)."""


class Marker(Protocol):
    username: str
    role: UserRole
    responder_id: int | None


@dataclass(frozen=True)
class Mark:
    step: str
    label: str
    responder_id: int
    at: datetime
    actor: str


@dataclass(frozen=True)
class Assignment:
    """An alert as its responder needs it on a phone."""

    alert_id: int
    title: str
    priority: int
    state: str
    reason: str
    raised_at: datetime
    home_id: str
    address: str
    postcode: str
    maps_url: str
    residents: list[str]
    marks: list[Mark]
    next_steps: list[str]  # the steps that may be marked now, in order


def assigned_responders(session: Session, alert_id: int) -> set[int]:
    """The responders the call log has sent to this alert."""
    events = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id, AlertEvent.kind == "call"))
    return {e.detail["responder_id"] for e in events
            if e.detail.get("action") in ASSIGNING_ACTIONS and isinstance(e.detail.get("responder_id"), int)}


def marks(session: Session, alert_id: int) -> list[Mark]:
    """Every attendance step marked at this alert, oldest first."""
    events = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id, AlertEvent.kind == "attend")
                             .order_by(AlertEvent.at, AlertEvent.id))
    return [Mark(e.detail["step"], STEP_LABELS.get(e.detail["step"], e.detail["step"]), e.detail["responder_id"], e.at,
                 e.actor) for e in events]


def next_steps(alert: Alert, done: list[str]) -> list[str]:
    """What may be marked after ``done`` (one responder's steps so far)."""
    if "left" in done:
        return []
    if "arrived" in done:
        return ["left"]
    if alert.state not in OPEN_STATES:
        return []
    return ["arrived"] if "on_my_way" in done else ["on_my_way", "arrived"]


def mark(session: Session, alert_id: int, step: str, who: Marker, *, at: datetime,
         responder_id: int | None = None) -> Mark:
    """Record one step for one responder. A responder marks their own; monitoring-centre staff
    name the responder (or leave it to the one assigned). The caller commits."""
    if step not in STEPS:
        raise AttendanceError(f"{step!r} is not a step: one of {', '.join(STEPS)}")
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}")
    assigned = assigned_responders(session, alert_id)
    if who.role is UserRole.RESPONDER:
        if who.responder_id is None:
            raise NotAssigned("this account is not linked to a responder record")
        if responder_id not in (None, who.responder_id):
            raise NotAssigned("a responder marks their own attendance only")
        responder_id = who.responder_id
    elif who.role in FOR_OTHERS:
        if responder_id is None:
            if len(assigned) != 1:
                raise AttendanceError("say which responder: "
                                      + ("none is assigned" if not assigned else "more than one is assigned"))
            responder_id = next(iter(assigned))
    else:
        raise NotAssigned(f"a {who.role.value} account cannot mark attendance")
    if responder_id not in assigned:
        raise NotAssigned(f"alert {alert_id} is not assigned to responder {responder_id}")
    done = [m.step for m in marks(session, alert_id) if m.responder_id == responder_id]
    if step not in next_steps(alert, done):
        raise AttendanceError(f"{STEP_LABELS[step]!r} cannot be marked now: "
                              + (f"already marked {', '.join(STEP_LABELS[s] for s in done)}" if done else
                                 f"the alert is {alert.state.value}" if alert.state not in OPEN_STATES else
                                 "mark Arrived first"))
    note = STEP_LABELS[step]
    if who.role is not UserRole.RESPONDER:  # marked for them: say whose step it was
        responder = session.get(Responder, responder_id)
        note += f" ({responder.name})" if responder is not None else ""
    event = AlertEvent(alert_id=alert_id, at=at, actor=f"{who.username} ({who.role.value})", kind="attend",
                       note=note, detail={"step": step, "responder_id": responder_id})
    session.add(event)
    session.flush()
    return Mark(step, STEP_LABELS[step], responder_id, at, event.actor)


def assignments(session: Session, responder_id: int, now: datetime, *, maps_search: str) -> list[Assignment]:
    """The responder's alerts, most urgent first: the open ones assigned to them that they have
    not left, and those they have arrived at and not yet left (raised in the last day), however
    they were closed."""
    calls = session.scalars(select(AlertEvent).join(Alert, Alert.id == AlertEvent.alert_id)
                            .where(AlertEvent.kind == "call", Alert.raised_at >= now - timedelta(days=30)))
    alert_ids = {e.alert_id for e in calls
                 if e.detail.get("action") in ASSIGNING_ACTIONS and e.detail.get("responder_id") == responder_id}
    out: list[Assignment] = []
    for alert in session.scalars(select(Alert).where(Alert.id.in_(sorted(alert_ids)))
                                 .order_by(Alert.priority, Alert.raised_at, Alert.id)):
        mine = [m for m in marks(session, alert.id) if m.responder_id == responder_id]
        done = [m.step for m in mine]
        still_there = "arrived" in done and "left" not in done and now - alert.raised_at <= STILL_THERE_FOR
        if "left" in done or (alert.state not in OPEN_STATES and not still_there):
            continue
        out.append(_assignment(session, alert, mine, next_steps(alert, done), maps_search))
    return out


def assignment(session: Session, alert_id: int, responder_id: int, *, maps_search: str) -> Assignment:
    """One alert of the responder's (NotAssigned when it is not theirs)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}")
    if responder_id not in assigned_responders(session, alert_id):
        raise NotAssigned(f"alert {alert_id} is not assigned to responder {responder_id}")
    mine = [m for m in marks(session, alert_id) if m.responder_id == responder_id]
    return _assignment(session, alert, mine, next_steps(alert, [m.step for m in mine]), maps_search)


def home_of(session: Session, alert_id: int) -> str:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return alert.home_id


def responder_name(session: Session, responder_id: int | None) -> str:
    responder = session.get(Responder, responder_id) if responder_id is not None else None
    return responder.name if responder is not None else ""


def maps_url(maps_search: str, address: str, postcode: str) -> str:
    """A link that searches the maps service for the address (the setting console.maps_search_url)."""
    return maps_search + quote_plus(", ".join(p for p in (address.replace("\n", ", "), postcode) if p))


def _assignment(session: Session, alert: Alert, mine: list[Mark], steps: list[str], maps_search: str) -> Assignment:
    home = session.get(Home, alert.home_id)
    address, postcode = (home.address, home.postcode) if home is not None else ("", "")
    people = session.scalars(select(Resident).where(Resident.home_id == alert.home_id, Resident.left_at.is_(None))
                             .order_by(Resident.id))
    return Assignment(alert.id, RULE_TITLES.get(alert.rule, alert.rule), alert.priority, alert.state.value, alert.reason,
                      alert.raised_at, alert.home_id, address, postcode, maps_url(maps_search, address, postcode),
                      [f"{r.name} ({r.preferred_name})" if r.preferred_name else r.name for r in people], mine, steps)
