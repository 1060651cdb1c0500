"""A responder's attendance, as JSON: the alerts assigned to them, and "on my way", "arrived"
and "left" marked into an alert's trail (the work is in ``alerts/attendance.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from tecwatch.alerts import attendance
from tecwatch.alerts.attendance import Assignment, AttendanceError, Mark, NotAssigned
from tecwatch.alerts.service import AlertNotFound
from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import NowDep, RowId, SessionDep, Staff, errors, require
from tecwatch.registry.models import UserRole

router = APIRouter(tags=["attendance"], responses=errors(401, 403, 404, 422))
Responder = Annotated[Principal, Depends(require(UserRole.RESPONDER))]


class MarkIn(BaseModel):
    step: Literal["on_my_way", "arrived", "left"]
    # Monitoring-centre staff marking for a responder name them (or leave it to the one assigned);
    # a responder marks their own.
    responder_id: int | None = None


class Attendance(BaseModel):
    alert_id: int
    marked: Mark
    marks: list[Mark]  # every step marked at the alert so far, oldest first


def mark_attendance(request: Request, session, who: Principal, alert_id: int, step: str, at,
                    responder_id: int | None = None) -> Mark:
    """Mark a step, logging the refusal (not theirs, or no such alert) as denied."""
    try:
        done = attendance.mark(session, alert_id, step, who, at=at, responder_id=responder_id)
    except (AlertNotFound, NotAssigned) as err:
        deps.log_denied(request, who, f"mark {step} at alert", alert_id=alert_id, detail=str(err))
        raise
    access.log_access(session, who, f"mark {step} at alert", home_id=attendance.home_of(session, alert_id),
                      alert_id=alert_id, now=at)
    return done


@router.post("/api/alerts/{alert_id}/attendance", responses=errors(400, 409))
def mark(alert_id: RowId, body: MarkIn, request: Request, who: Staff, session: SessionDep, at: NowDep) -> Attendance:
    """Mark "on my way", "arrived" or "left" with the server's time, in the alert's trail. Only the
    responder the alert is assigned to (or monitoring-centre staff for them) may."""
    try:
        done = mark_attendance(request, session, who, alert_id, body.step, at, body.responder_id)
    except AlertNotFound as err:
        raise HTTPException(404, str(err)) from err
    except NotAssigned as err:
        raise HTTPException(403, str(err)) from err
    except AttendanceError as err:
        raise HTTPException(409, str(err)) from err
    return Attendance(alert_id=alert_id, marked=done, marks=attendance.marks(session, alert_id))


@router.get("/api/me/assignments")
def my_assignments(request: Request, who: Responder, session: SessionDep, at: NowDep) -> list[Assignment]:
    """The alerts assigned to the responder signed in, most urgent first, with their address and
    a maps link; each one listed is logged as read."""
    if who.responder_id is None:
        deps.log_refusal(request, who, "only a responder's account linked to their record has assignments")
        raise HTTPException(403, "only a responder's account linked to their responder record has assignments")
    return logged_assignments(request, session, who, at, "list")


def logged_assignments(request: Request, session, who: Principal, at, verb: str) -> list[Assignment]:
    """The responder's assignments (``who`` is linked to a responder record), each one listed
    logged as read ("{verb} assignment"), or that there were none."""
    out = attendance.assignments(session, who.responder_id, at,
                                 maps_search=request.app.state.settings.console.maps_search_url)
    for a in out:
        access.log_access(session, who, f"{verb} assignment", home_id=a.home_id, alert_id=a.alert_id, now=at)
    if not out:
        access.log_access(session, who, f"{verb} assignments", detail="none", now=at)
    return out
