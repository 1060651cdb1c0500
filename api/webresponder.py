"""The responder's page, made for a phone: the alerts the monitoring centre sent them to, each
with its address and a maps link, the home's access information on request (each reveal
access-logged), and "On my way", "Arrived" and "Left" buttons whose times go into the alert's
trail. The same services as the API (alerts/attendance.py, registry/accessinfo.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tecwatch.alerts import attendance
from tecwatch.alerts.attendance import STEP_LABELS, STEPS, AttendanceError, NotAssigned
from tecwatch.alerts.service import AlertNotFound
from tecwatch.api import deps
from tecwatch.api.access import Principal
from tecwatch.api.attendance import logged_assignments, mark_attendance
from tecwatch.api.deps import RowId
from tecwatch.api.web import TEMPLATES, page_user
from tecwatch.registry import accessinfo
from tecwatch.registry.accessinfo import AccessInfo, Sealer
from tecwatch.registry.changes import NotFound
from tecwatch.registry.models import UserRole

router = APIRouter(include_in_schema=False)
RESPONDER = page_user(UserRole.RESPONDER)


def _render(request: Request, name: str, who: Principal, status_code: int = 200, **context) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"who": who, **context}, status_code=status_code)


def _message(request: Request, who: Principal, status: int, title: str, message: str) -> HTMLResponse:
    return _render(request, "message.html", who, status, title=title, message=message, back="/responder")


def _page(request: Request, who: Principal, *, done: str = "", revealed: dict[int, AccessInfo | None] | None = None,
          error: str = "", status_code: int = 200) -> HTMLResponse:
    if who.responder_id is None:
        deps.log_refusal(request, who, "this account is not linked to a responder record")
        return _message(request, who, 403, "Not linked", "Your account is not linked to a responder record: "
                        "ask an administrator to link it.")
    zone = ZoneInfo(request.app.state.settings.alerts.timezone)
    with Session(request.app.state.registry) as s, s.begin():
        now = deps.now(request)
        items = logged_assignments(request, s, who, now, "page")
    page = _render(request, "responder.html", who, status_code, items=items, done=done, error=error,
                   revealed=revealed or {}, labels=STEP_LABELS, steps=STEPS,
                   local=lambda t: t.astimezone(zone).strftime("%H:%M"),
                   day=lambda t: t.astimezone(zone).strftime("%a %d %b %H:%M"))
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/responder", response_class=HTMLResponse)
def responder_page(request: Request, done: str = "", who: Principal = Depends(RESPONDER)) -> HTMLResponse:
    return _page(request, who, done=STEP_LABELS.get(done, ""))


@router.post("/responder/alerts/{alert_id}/attend")
def attend(request: Request, alert_id: RowId, step: str = Form(max_length=20),
           who: Principal = Depends(RESPONDER)) -> Response:
    try:
        with Session(request.app.state.registry) as s, s.begin():
            mark_attendance(request, s, who, alert_id, step, deps.now(request))
    except (AlertNotFound, NotAssigned):
        return _message(request, who, 403, "Not yours", f"Alert {alert_id} is not one the monitoring centre sent you to.")
    except AttendanceError as err:
        return _page(request, who, error=str(err).capitalize() + ".", status_code=409)
    return RedirectResponse(f"/responder?done={step}#alert-{alert_id}", status_code=303)


@router.post("/responder/alerts/{alert_id}/access", response_class=HTMLResponse)
def reveal_access(request: Request, alert_id: RowId, who: Principal = Depends(RESPONDER)) -> HTMLResponse:
    """The access information of the home of one of the responder's alerts (a POST: nothing
    fetches it by accident; the reveal is access-logged by the service)."""
    seal = Sealer(request.app.state.settings.registry.encryption_key.get_secret_value())
    try:
        with Session(request.app.state.registry) as s, s.begin():
            home_id = attendance.assignment(s, alert_id, who.responder_id or 0,
                                            maps_search=request.app.state.settings.console.maps_search_url).home_id
            try:
                info: AccessInfo | None = accessinfo.read_access_info(s, seal, who, home_id, now=deps.now(request))
            except NotFound:
                info = None  # nothing recorded for this home
    except (AlertNotFound, NotAssigned) as err:
        deps.log_denied(request, who, accessinfo.READ_ACTION, alert_id=alert_id, detail=str(err))
        return _message(request, who, 403, "Not yours", f"Alert {alert_id} is not one the monitoring centre sent you to.")
    return _page(request, who, revealed={alert_id: info})

