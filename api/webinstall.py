"""The install checklist: a home's fitted devices, each with what to do to set it off. The page
asks every second or so (no reload) which have sent a test event since it opened; each one that
has is shown as received, announced, and recorded as the device's passed test, with who ran the
checklist (registry/installcheck.py). Without scripts, a button asks the same. Also here:
finishing the installation (the home's residents move on to monitoring) and removing a device,
with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import RowId
from tecwatch.api.web import page_user
from tecwatch.api.webenrol import not_found
from tecwatch.api.webforms import ENROLMENT, actor, choices, posted, problems, render, text, version
from tecwatch.registry import devices, homes, installcheck, residents
from tecwatch.registry.changes import Conflict, Invalid, NotFound
from tecwatch.registry.homes import HOME_ID_PATTERN
from tecwatch.registry.devices import DeviceRecord
from tecwatch.registry.installcheck import Checklist, DeviceCheck
from tecwatch.registry.vocab import WORKFLOW, DeviceRemovalReason, ResidentStatus
from tecwatch.store import StoreUnavailable

router = APIRouter(include_in_schema=False)
HomeId = Annotated[str, Path(max_length=64, pattern=HOME_ID_PATTERN)]
ResidentRef = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
POLL_MS = 1000
REMOVAL_LABELS = {"reason": "Why it is being removed"}


def _state(check: DeviceCheck, found: Checklist) -> str:
    if check.received_at is not None:
        at = found.local(check.received_at).strftime("%H:%M:%S")
        return f"Received at {at}: test passed" if check.tested_here else f"Received at {at}"
    if check.test_result is not None and check.tested_at is not None:
        return (f"Waiting for a test event (last test {check.test_result.value}, "
                f"{found.local(check.tested_at):%d %b %H:%M})")
    return "Waiting for a test event"


def _hub(found: Checklist) -> str:
    if found.hub_last_seen is None:
        return "The hub has not been heard from yet."
    heard = found.local(found.hub_last_seen)
    return f"The hub was last heard at {heard:%H:%M:%S} ({heard:%d %b})."


def _announcement(check: DeviceCheck, found: Checklist) -> str:
    return f"{check.what}: received at {found.local(check.received_at):%H:%M:%S}" if check.received_at else ""


def _check(request: Request, who: Principal, home_id: str, since_text: str) -> Checklist:
    """The checklist as of now, with the tests that have arrived recorded. Raises NotFound,
    Invalid (an unusable opening time) or StoreUnavailable."""
    try:
        since = datetime.fromisoformat(since_text)
    except ValueError:
        raise Invalid.one("since", "the checklist's opening time is missing: reload it") from None
    now, store = deps.now(request), request.app.state.store
    try:
        with Session(request.app.state.registry) as s, s.begin():
            return installcheck.record_received(s, actor(who), installcheck.checklist(s, store, home_id, since, now), now)
    except Conflict:  # recorded by another checklist at the same moment: show what is stored
        with Session(request.app.state.registry) as s:
            return installcheck.checklist(s, store, home_id, since, now)


def _page(request: Request, who: Principal, home_id: str, found: Checklist | None, resident: int | None,
          status_code: int = 200, error: str = "") -> HTMLResponse:
    with Session(request.app.state.registry) as s, s.begin():
        home = homes.get_home(s, home_id)
        people = residents.search_residents(s, home_id=home_id, limit=50).items
        access.log_access(s, who, "page install checklist", home_id=home_id, now=deps.now(request))
    rows = [(c, _state(c, found)) for c in found.devices] if found else []
    return render(request, "install.html", who, status_code, home=home, people=people, found=found, rows=rows,
                  hub=_hub(found) if found else "", resident=resident, error=error, poll_ms=POLL_MS,
                  received=[(c.id, _announcement(c, found)) for c in found.devices if c.received_at] if found else [])


@router.get("/enrol/homes/{home_id}/install", response_class=HTMLResponse)
def install_page(request: Request, home_id: HomeId, resident: ResidentRef = None,
                 who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    now = deps.now(request)
    try:
        with Session(request.app.state.registry) as s:
            found = installcheck.checklist(s, request.app.state.store, home_id, now, now)
    except NotFound:
        return not_found(request, who, "home", home_id=home_id)
    except StoreUnavailable:
        return _page(request, who, home_id, None, resident, 503, "The readings store is not answering: try again soon.")
    return _page(request, who, home_id, found, resident)


@router.post("/enrol/homes/{home_id}/install", response_class=HTMLResponse)
def install_check_now(request: Request, home_id: HomeId, form: FormData = Depends(posted),
                      who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    """Without scripts: the same checklist, asked again, and its arrived tests recorded."""
    resident = text(form, "resident", 10)
    resident_id = int(resident) if resident.isdigit() else None
    found, status, error = None, 200, ""
    try:
        found = _check(request, who, home_id, text(form, "since", 40))
    except Invalid as err:
        status, error = 422, " ".join(problems(err, []).values())
    except StoreUnavailable:
        status, error = 503, "The readings store is not answering: try again soon."
    except NotFound:
        pass  # said below
    try:
        return _page(request, who, home_id, found, resident_id, status, error)
    except NotFound:
        return not_found(request, who, "home", home_id=home_id)


@router.post("/enrol/homes/{home_id}/install/check")
def install_check(request: Request, home_id: HomeId, form: FormData = Depends(posted),
                  who: Principal = Depends(page_user(*ENROLMENT))) -> JSONResponse:
    """What the page asks every second: each device's state in words, and what to announce."""
    try:
        found = _check(request, who, home_id, text(form, "since", 40))
    except NotFound:
        return JSONResponse({"detail": f"no home {home_id!r}"}, 404)
    except Invalid as err:
        return JSONResponse({"detail": " ".join(problems(err, []).values())}, 422)
    except StoreUnavailable:
        return JSONResponse({"detail": "The readings store is not answering; still trying."}, 503)
    body: dict[str, Any] = {"hub": _hub(found), "devices": [
        {"id": c.id, "received": c.received_at is not None, "state": _state(c, found),
         "announce": _announcement(c, found)} for c in found.devices]}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/enrol/homes/{home_id}/install/finish")
def finish(request: Request, home_id: HomeId, form: FormData = Depends(posted),
           who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    """Installed and tested: everyone at the home who is not yet monitored is from now on."""
    resident = text(form, "resident", 10)
    try:
        with Session(request.app.state.registry) as s, s.begin():
            homes.get_home(s, home_id)
            for r in residents.search_residents(s, home_id=home_id, limit=50).items:
                if r.status in WORKFLOW and r.status is not ResidentStatus.MONITORING:
                    residents.set_status(s, actor(who), r.id, ResidentStatus.MONITORING, version=r.version,
                                         now=deps.now(request))
    except NotFound:
        return not_found(request, who, "home", home_id=home_id)
    except (Invalid, Conflict) as err:
        return _page(request, who, home_id, None, int(resident) if resident.isdigit() else None, 409,
                     " ".join(problems(err, []).values()) + " Reload the checklist and finish again.")
    target = f"/enrol/residents/{resident}?done=monitoring" if resident.isdigit() else "/enrol"
    return RedirectResponse(target, status_code=303)


# -- removing a device ----------------------------------------------------------------------

def _device(request: Request, home_id: str, device_pk: int) -> DeviceRecord:
    with Session(request.app.state.registry) as s:
        device = devices.get_device(s, device_pk)
    if device.home_id != home_id:
        raise NotFound(f"no device {device_pk} at {home_id}")
    return device


@router.get("/enrol/homes/{home_id}/devices/{device_pk}/remove", response_class=HTMLResponse)
def device_removal_form(request: Request, home_id: HomeId, device_pk: RowId, resident: ResidentRef = None,
                        who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    try:
        device = _device(request, home_id, device_pk)
    except NotFound:
        return not_found(request, who, "device", home_id=home_id)
    return render(request, "device_remove.html", who, device=device, values={"reason": ""}, version=device.version,
                  reasons=choices(DeviceRemovalReason), labels=REMOVAL_LABELS, resident=resident)


@router.post("/enrol/homes/{home_id}/devices/{device_pk}/remove", response_class=HTMLResponse)
def remove_device(request: Request, home_id: HomeId, device_pk: RowId, form: FormData = Depends(posted),
                  who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    reason, resident = text(form, "reason", 40), text(form, "resident", 10)
    now = deps.now(request)
    try:
        _device(request, home_id, device_pk)
        with Session(request.app.state.registry) as s, s.begin():
            devices.remove_device(s, actor(who), device_pk, reason=reason, removed_at=now, version=version(form), now=now)
    except NotFound:
        return not_found(request, who, "device", home_id=home_id)
    except (Invalid, Conflict) as err:
        device = _device(request, home_id, device_pk)
        return render(request, "device_remove.html", who, 409 if isinstance(err, Conflict) else 422, device=device,
                      values={"reason": reason}, version=device.version, reasons=choices(DeviceRemovalReason),
                      labels=REMOVAL_LABELS, resident=int(resident) if resident.isdigit() else None,
                      errors=problems(err, REMOVAL_LABELS))
    if resident.isdigit():
        return RedirectResponse(f"/enrol/residents/{resident}?done=device-removed", status_code=303)
    return RedirectResponse(f"/enrol/homes/{home_id}/install", status_code=303)
