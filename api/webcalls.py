"""The call screen (an alert's page in the console): the person, who to call, what happened, the
call script, and the call log, one click per call. Revealing the access information is a POST
whose answer is this page with it shown, access-logged and never cached."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import pass_context
from sqlalchemy.orm import Session

from tecwatch.alerts import calllog, callscreen, service
from tecwatch.alerts.attendance import AttendanceError, NotAssigned
from tecwatch.alerts.calllog import LABELS, OTHER_ACTIONS, RESIDENT_ACTIONS, CallAction
from tecwatch.alerts.lifecycle import RULE_TITLES, TransitionError
from tecwatch.api import access, deps
from tecwatch.api import attendance as attendance_api
from tecwatch.api.access import Principal
from tecwatch.api.deps import STAFF, RowId
from tecwatch.api.web import _render, page_user
from tecwatch.registry import accessinfo
from tecwatch.registry.accessinfo import AccessInfo, Sealer
from tecwatch.registry.changes import NotFound
from tecwatch.registry.models import Outcome
from tecwatch.registry.vocab import ACCESS_INFO_ROLES

router = APIRouter(include_in_schema=False)


@pass_context
def local_time(context, value: datetime | None, fmt: str = "%d %b %H:%M:%S") -> str:
    """A time as the centre reads it: in its own time zone (the setting ``console.timezone``)."""
    if value is None:
        return ""
    zone = ZoneInfo(context["request"].app.state.settings.console.timezone)
    return value.astimezone(zone).strftime(fmt)


def _engine(request: Request):
    return request.app.state.registry


def _page(request: Request, who: Principal, alert_id: int, done: str = "", revealed: AccessInfo | None = None,
          reveal_problem: str = "") -> HTMLResponse:
    try:
        alert = service.get_alert(_engine(request), alert_id)
    except service.AlertNotFound:
        deps.log_denied(request, who, "page alert", alert_id=alert_id, detail="no such alert")
        return _render(request, "message.html", who, 404, title="No such alert", message=f"There is no alert {alert_id}.")
    settings, now = request.app.state.settings, deps.now(request)
    with Session(_engine(request)) as s, s.begin():
        screen = callscreen.call_screen(s, request.app.state.store, alert_id, settings.console.script(alert.rule), now=now)
        access.log_access(s, who, "page alert", home_id=alert.home_id, alert_id=alert_id, now=now)
        for card in screen.residents:
            access.log_access(s, who, "page alert resident card", home_id=alert.home_id, resident_id=card.id,
                              alert_id=alert_id, now=now)
    response = _render(request, "alert.html", who, alert=alert, titles=RULE_TITLES, outcomes=list(Outcome), done=done,
                       screen=screen, labels=LABELS, resident_actions=RESIDENT_ACTIONS, other_actions=OTHER_ACTIONS,
                       actions=CallAction, revealed=revealed, reveal_problem=reveal_problem,
                       may_reveal=who.role in ACCESS_INFO_ROLES, zone=settings.console.timezone,
                       assigned=calllog.assigned_responders(alert))
    if revealed is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/console/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: RowId, done: str = "",
               who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    return _page(request, who, alert_id, done[:40])


@router.post("/console/alerts/{alert_id}/calls", response_class=HTMLResponse)
def log_call(request: Request, alert_id: RowId, action: str = Form(max_length=40),
             responder_id: int | None = Form(None, ge=1, le=2**31 - 1),
             who: Principal = Depends(page_user(*STAFF))) -> Response:
    """One click of the call log: the call goes into the trail at the app's time."""
    try:
        done = calllog.record_call(_engine(request), alert_id, f"{who.username} ({who.role.value})", action,
                                   responder_id, at=deps.now(request))
    except service.AlertNotFound:
        deps.log_denied(request, who, "page log call on alert", alert_id=alert_id, detail="no such alert")
        return _render(request, "message.html", who, 404, title="No such alert", message=f"There is no alert {alert_id}.")
    except (TransitionError, calllog.CallError) as err:
        return _render(request, "message.html", who, 409, title="Not done", message=str(err).capitalize() + ".",
                       back=f"/console/alerts/{alert_id}")
    with Session(_engine(request)) as s, s.begin():
        access.log_access(s, who, "page log call on alert", home_id=done.home_id, alert_id=alert_id,
                          now=deps.now(request))
    return RedirectResponse(f"/console/alerts/{alert_id}?done=call+logged#call-log", status_code=303)


ATTENDANCE_STEPS = {"arrived": "arrival marked", "left": "leaving marked"}


@router.post("/console/alerts/{alert_id}/attendance", response_class=HTMLResponse)
def mark_attendance(request: Request, alert_id: RowId, step: str = Form(max_length=20),
                    responder_id: int = Form(ge=1, le=2**31 - 1),
                    who: Principal = Depends(page_user(*STAFF))) -> Response:
    """Staff marking an assigned responder's arrival or leaving (told by phone), into the trail
    at the app's time, as the responder would from their own page."""
    if step not in ATTENDANCE_STEPS:
        return _render(request, "message.html", who, 422, title="Not done", message="Choose arrived or left.",
                       back=f"/console/alerts/{alert_id}")
    try:
        with Session(_engine(request)) as s, s.begin():
            attendance_api.mark_attendance(request, s, who, alert_id, step, deps.now(request), responder_id)
    except service.AlertNotFound:
        return _render(request, "message.html", who, 404, title="No such alert", message=f"There is no alert {alert_id}.")
    except (NotAssigned, AttendanceError) as err:
        return _render(request, "message.html", who, 409, title="Not done", message=str(err).capitalize() + ".",
                       back=f"/console/alerts/{alert_id}")
    done = ATTENDANCE_STEPS[step].replace(" ", "+")
    return RedirectResponse(f"/console/alerts/{alert_id}?done={done}#call-log", status_code=303)


@router.post("/console/alerts/{alert_id}/access", response_class=HTMLResponse)
def reveal_access(request: Request, alert_id: RowId, who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    """The call screen with the home's access information shown (the read is access-logged)."""
    try:
        alert = service.get_alert(_engine(request), alert_id)
    except service.AlertNotFound:
        return _page(request, who, alert_id)
    if who.role not in ACCESS_INFO_ROLES:
        deps.log_denied(request, who, accessinfo.READ_ACTION, home_id=alert.home_id, alert_id=alert_id,
                        detail="this role may not read access information")
        return _page(request, who, alert_id, reveal_problem="Your account cannot read access information.")
    sealer = Sealer(request.app.state.settings.registry.encryption_key.get_secret_value())
    try:
        with Session(_engine(request)) as s, s.begin():
            info = accessinfo.read_access_info(s, sealer, who, alert.home_id, now=deps.now(request))
    except NotFound:
        deps.log_denied(request, who, accessinfo.READ_ACTION, home_id=alert.home_id, alert_id=alert_id,
                        detail="no access information recorded")
        return _page(request, who, alert_id, reveal_problem="No access information is recorded for this home.")
    return _page(request, who, alert_id, revealed=info)
