"""The family page's parts beyond the status itself: the week split by kind of activity, the
page's own updates (a fragment fetched when the live stream says an alert changed, and every
few minutes), and acknowledging an open alert from the page ("I am dealing with it"), which the
README allows family members. Every read is access-logged; refusals are logged as denied."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.lifecycle import TransitionError
from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import RowId
from tecwatch.api.familychart import week_chart
from tecwatch.api.web import TEMPLATES, page_user
from tecwatch.registry import familyview, familyweek
from tecwatch.registry.familyview import Status
from tecwatch.registry.models import Home, UserRole

router = APIRouter(include_in_schema=False)
FAMILY = page_user(UserRole.FAMILY)
DONE = {"ack": "Thank you: everyone can see that you are dealing with it."}


def _zone(session: Session, home_id: str, default: str) -> ZoneInfo:
    home = session.get(Home, home_id)
    return ZoneInfo(home.timezone if home is not None else default)


def _local(zone: ZoneInfo):
    """Times as the family reads them: in the home's time zone."""
    return lambda t, fmt="%H:%M": t.astimezone(zone).strftime(fmt)


def page(request: Request, who: Principal, st: Status, done: str = "", status_code: int = 200) -> HTMLResponse:
    """The whole family page for a status already read (and access-logged) by the caller."""
    with Session(request.app.state.registry) as s:
        zone = _zone(s, st.home_id, request.app.state.settings.alerts.timezone)
        days = familyweek.week(s, request.app.state.store, st.home_id, zone, deps.now(request))
    chart = week_chart(days, "Activity each day, last 7 days; today so far")
    return TEMPLATES.TemplateResponse(request, "family.html", {
        "who": who, "st": st, "chart": chart, "days": days, "kinds": familyweek.KINDS,
        "kind_labels": familyweek.KIND_LABELS, "unit": familyweek.UNIT, "done": DONE.get(done, ""),
        "local": _local(zone)}, status_code=status_code)


def _status(request: Request, who: Principal, resident_id: int, action: str) -> tuple[Status, ZoneInfo] | None:
    try:
        with Session(request.app.state.registry) as s, s.begin():
            home_id = familyview.resident_home(s, resident_id, access.visible_resident_ids(s, who))
            st = familyview.status(s, request.app.state.store, resident_id, request.app.state.settings.alerts,
                                   deps.now(request))
            access.log_access(s, who, action, home_id=home_id, resident_id=resident_id, now=deps.now(request))
            return st, _zone(s, home_id, request.app.state.settings.alerts.timezone)
    except familyview.ResidentNotFound as err:
        deps.log_denied(request, who, action, resident_id=resident_id, detail=str(err))
        return None


@router.get("/family/{resident_id}/live", response_class=HTMLResponse)
def live(request: Request, resident_id: RowId, who: Principal = Depends(FAMILY)) -> Response:
    """The parts of the page that change through the day, for the page to swap in."""
    found = _status(request, who, resident_id, "page resident status update")
    if found is None:
        return Response(status_code=404)
    st, zone = found
    return TEMPLATES.TemplateResponse(request, "family_live.html", {
        "who": who, "st": st, "local": _local(zone)},
        headers={"Cache-Control": "no-store"})


@router.post("/family/{resident_id}/alerts/{alert_id}/acknowledge")
def acknowledge(request: Request, resident_id: RowId, alert_id: RowId, who: Principal = Depends(FAMILY)) -> Response:
    """A family member says they are dealing with their relative's alert: it is acknowledged in
    their name, which stops the escalation's calls and messages. The monitoring centre still sees it."""
    action = "page family acknowledge alert"
    with Session(request.app.state.registry) as s:
        visible_residents = access.visible_resident_ids(s, who)
        visible_homes = access.visible_home_ids(s, who)
        try:
            home_id = familyview.resident_home(s, resident_id, visible_residents)
        except familyview.ResidentNotFound:
            home_id = None
    try:
        if home_id is None:
            raise service.AlertNotFound(f"no resident {resident_id}")
        # Only an alert of this relative's home, and only one this account may see.
        done = service.acknowledge(request.app.state.registry, alert_id, f"{who.username} ({who.role.value})",
                                   visible=(visible_homes or set()) & {home_id}, at=deps.now(request))
    except service.AlertNotFound as err:
        deps.log_denied(request, who, action, resident_id=resident_id, alert_id=alert_id, detail=str(err))
        return TEMPLATES.TemplateResponse(request, "message.html", {
            "who": who, "title": "Not found", "message": "There is no such alert to acknowledge.",
            "back": "/family"}, status_code=404)
    except TransitionError:
        pass  # someone was first: the page shows who
    else:
        with Session(request.app.state.registry) as s, s.begin():
            access.log_access(s, who, action, home_id=done.home_id, resident_id=resident_id, alert_id=alert_id,
                              now=deps.now(request))
        return RedirectResponse(f"/family/{resident_id}?done=ack", status_code=303)
    return RedirectResponse(f"/family/{resident_id}", status_code=303)
