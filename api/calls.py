"""The call log of an alert (JSON): each call the operator makes, recorded with its time into the
alert's trail (``alerts/calllog.py``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from tecwatch.alerts import calllog
from tecwatch.alerts.calllog import CallAction
from tecwatch.alerts.service import AlertView
from tecwatch.api import access, deps
from tecwatch.api.alerts import _actor, _logged
from tecwatch.api.deps import NowDep, RowId, SessionDep, Staff, errors

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=errors(401, 403, 404, 422))


class Call(BaseModel):
    """One call: ``responder_id`` names who was called, and is needed for responder_on_way,
    responder_unavailable and mobile_sent."""

    action: CallAction
    responder_id: int | None = Field(None, ge=1, le=2**31 - 1)


@router.post("/{alert_id}/calls", responses=errors(400, 409))
def log_call(request: Request, alert_id: RowId, body: Call, who: Staff, session: SessionDep, at: NowDep) -> AlertView:
    """Record a call on an open alert (called the resident: answered, no answer, engaged; spoke
    through the alarm unit; a responder on the way or not available; the mobile responder sent;
    999 called; a message left). The answer is the alert with its trail."""
    try:
        return _logged(request, session, who, "log call on alert", alert_id, calllog.record_call,
                       request.app.state.registry, alert_id, _actor(who), body.action, body.responder_id, at=at,
                       visible=access.visible_home_ids(session, who))
    except calllog.CallError as err:
        deps.log_denied(request, who, "log call on alert", alert_id=alert_id, detail=str(err))
        raise HTTPException(422, str(err)) from err
