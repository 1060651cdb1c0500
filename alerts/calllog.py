"""The call log: what the operator did on an alert's calls, one entry a click, into its trail.

Each entry is an alert event of kind ``call`` with ``{"action": ..., "responder_id": ...}``:
called the resident (answered, no answer, engaged), spoke through the alarm unit, called a
responder (on the way, not available), sent the mobile responder, called 999, left a message.
An open alert is assigned to each responder named by one of its ``responder_on_way`` or
``mobile_sent`` calls.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.service import AlertNotFound, AlertView, get_alert
from tecwatch.alerts.lifecycle import TransitionError
from tecwatch.registry.models import OPEN_STATES, Alert, AlertEvent, Responder

KIND = "call"


class CallAction(StrEnum):
    RESIDENT_ANSWERED = "resident_answered"
    RESIDENT_NO_ANSWER = "resident_no_answer"
    RESIDENT_ENGAGED = "resident_engaged"
    SPOKE_THROUGH_UNIT = "spoke_through_unit"
    RESPONDER_ON_WAY = "responder_on_way"
    RESPONDER_UNAVAILABLE = "responder_unavailable"
    MOBILE_SENT = "mobile_sent"
    CALLED_999 = "called_999"
    LEFT_MESSAGE = "left_message"


# Each action in words, as the trail and the buttons show it.
LABELS: dict[CallAction, str] = {
    CallAction.RESIDENT_ANSWERED: "Called the resident: answered",
    CallAction.RESIDENT_NO_ANSWER: "Called the resident: no answer",
    CallAction.RESIDENT_ENGAGED: "Called the resident: engaged",
    CallAction.SPOKE_THROUGH_UNIT: "Spoke to them through the alarm unit",
    CallAction.RESPONDER_ON_WAY: "Called a responder: on the way",
    CallAction.RESPONDER_UNAVAILABLE: "Called a responder: not available",
    CallAction.MOBILE_SENT: "Sent the mobile responder",
    CallAction.CALLED_999: "Called 999",
    CallAction.LEFT_MESSAGE: "Left a message",
}
# Actions about one responder: they name who was called.
NEEDS_RESPONDER = frozenset({CallAction.RESPONDER_ON_WAY, CallAction.RESPONDER_UNAVAILABLE, CallAction.MOBILE_SENT})
ASSIGNING = frozenset({CallAction.RESPONDER_ON_WAY, CallAction.MOBILE_SENT})
RESIDENT_ACTIONS = (CallAction.RESIDENT_ANSWERED, CallAction.RESIDENT_NO_ANSWER, CallAction.RESIDENT_ENGAGED,
                    CallAction.SPOKE_THROUGH_UNIT)
OTHER_ACTIONS = (CallAction.CALLED_999, CallAction.LEFT_MESSAGE)


class CallError(ValueError):
    """The entry cannot be recorded as asked (an unknown action, a responder missing or unknown)."""


def record_call(engine: Engine, alert_id: int, actor: str, action: str, responder_id: int | None, *,
                at: datetime, visible: set[str] | None = None) -> AlertView:
    """Add one call to an open alert's trail, at ``at``; the alert with its trail."""
    try:
        action = CallAction(action)
    except ValueError:
        raise CallError(f"{action!r} is not a call action") from None
    if action in NEEDS_RESPONDER and responder_id is None:
        raise CallError(f"{action.value} needs the responder called")
    with Session(engine) as s, s.begin():
        alert = s.get(Alert, alert_id)
        if alert is None or (visible is not None and alert.home_id not in visible):
            raise AlertNotFound(f"no alert {alert_id}")
        if alert.state not in OPEN_STATES:
            raise TransitionError(f"alert {alert_id} is {alert.state}: calls are logged on open alerts")
        name = None
        if responder_id is not None:
            responder = s.get(Responder, responder_id)
            if responder is None:
                raise CallError(f"there is no responder {responder_id}")
            name = responder.name
        note = LABELS[action] + (f" ({name})" if name and action in NEEDS_RESPONDER else "")
        s.add(AlertEvent(alert_id=alert_id, at=at, actor=actor[:200], kind=KIND, note=note,
                         detail={"action": action.value, "responder_id": responder_id}))
    return get_alert(engine, alert_id)


def assigned_responders(view: AlertView) -> list[int]:
    """The responders an open alert is assigned to (each called "on the way" or sent), in the
    order they were; none once it is closed."""
    if view.state not in {s.value for s in OPEN_STATES}:
        return []
    assigning = {a.value for a in ASSIGNING}
    found = [e.detail.get("responder_id") for e in view.events if e.kind == KIND and e.detail.get("action") in assigning]
    return list(dict.fromkeys(r for r in found if r is not None))
