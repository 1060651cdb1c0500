"""The enrolment wizard: resident and home -> devices -> contacts and responders -> escalation ->
consent -> check and finish, each step a plain form post to the registry's services. The first
step creates the resident (and their home); every later step works on that record, so a step can
be taken again, or the wizard picked up later from the resident's record. Problems are shown
next to the fields at fault, with a summary that links to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import RowId
from tecwatch.api.web import page_user
from tecwatch.api.webenrol import RESIDENT_LABELS, not_found, resident_input, resident_opts, shown
from tecwatch.api.webforms import (
    ENROLMENT, actor, choices, clock_time, day, many, moment, posted, problems, render, split_list, text,
)
from tecwatch.devices.catalogue import DEVICE_TYPES
from tecwatch.registry import chains, consent, contacts, devices, enrolment, residents
from tecwatch.registry.changes import Conflict, Invalid, NotFound
from tecwatch.registry.consent import CONSENTING_TO
from tecwatch.registry.enrolment import Overview
from tecwatch.registry.fields import parse_windows
from tecwatch.registry.vocab import WORKFLOW, ConsentScope, ContactRole, ResidentStatus, ResponderKind, Room

router = APIRouter(include_in_schema=False)
STEPS = (("resident", "Resident and home"), ("devices", "Devices"), ("contacts", "Contacts and responders"),
         ("escalation", "Escalation"), ("consent", "Consent"), ("check", "Check and finish"))
TITLES = dict(STEPS)
CHAIN_ROWS = 4  # steps offered on the escalation form
HOME_LABELS = {"home.address": "Address", "home.postcode": "Postcode", "home.district": "District",
               "home.uprn": "UPRN", "home.home_id": "Hub's home id", "home_id": "Enrolled home's id",
               "status": "Where they are in the process"}
LABELS = {
    "resident": RESIDENT_LABELS | HOME_LABELS,
    "devices": {"type": "Device type", "serial": "Serial number", "room": "Room", "role": "Fitted to",
                "device_id": "Id on the hub", "installed_by": "Fitted by"},
    "contacts": {"service": "A service already on the system", "name": "Name", "kind": "Who they are",
                 "phones": "Phone numbers", "route": "Notify them by", "relation": "Relation",
                 "key_holder": "Holds a key", "availability": "When they can be called"},
    "escalation": {"name": "Name of the chain", "active_from": "From", "active_until": "Until"}
                  | {f"step{n}": f"Step {n}: who" for n in range(1, CHAIN_ROWS + 1)}
                  | {f"wait{n}": f"Step {n}: minutes to wait" for n in range(1, CHAIN_ROWS + 1)},
    "consent": {"responder_id": "Who", "scope": "What they may see", "granted_on": "Date they agreed"},
}
DONE = {"enrolled": "Enrolled. Now the devices fitted in the home.", "device": "Device added.",
        "contact": "Contact added.", "chain": "Escalation chain saved.", "consent": "Consent recorded.",
        "access": "Access information saved."}
SCOPE_WORDS = {ConsentScope.STATUS: "How they are today, in words", ConsentScope.ALERTS: "Their alerts",
               ConsentScope.ACTIVITY: "Their activity, hour by hour", ConsentScope.DEVICES: "Device problems"}


def _step(request: Request, who: Principal, step: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    n = [k for k, _ in STEPS].index(step) + 1
    return render(request, f"wizard_{step}.html", who, status_code, step=step, number=n, steps=STEPS,
                  title=TITLES[step], labels=LABELS.get(step, {}), **context)


# -- step 1: resident and home ---------------------------------------------------------------

def _blank() -> dict[str, Any]:
    return {f: "" for f in RESIDENT_LABELS} | {"communication_needs": [], "risks": [], "primary_need": "other",
                                                 "status": "referral"} | {f: "" for f in HOME_LABELS if f != "status"}


@router.get("/enrol/new", response_class=HTMLResponse)
def new_resident_form(request: Request, who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    return _step(request, who, "resident", values=_blank(), opts=resident_opts(), resident=None)


@router.post("/enrol/new", response_class=HTMLResponse)
def new_resident(request: Request, form: FormData = Depends(posted),
                 who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    data = resident_input(form) | {"status": text(form, "status", 20) or ResidentStatus.REFERRAL.value}
    home = {k: text(form, f"home.{k}", 300) for k in ("address", "postcode", "district", "uprn", "home_id")}
    if text(form, "home_id"):
        data["home_id"] = text(form, "home_id", 64)
    if any(home.values()) or "home_id" not in data:
        data["home"] = {k: v or None for k, v in home.items()} | {k: home[k] for k in ("address", "postcode", "district")}
    try:
        with Session(request.app.state.registry) as s, s.begin():
            made = residents.create_resident(s, actor(who), data, now=deps.now(request))
    except (Invalid, Conflict) as err:
        values = _blank() | shown(data) | {f"home.{k}": v for k, v in home.items()} | {"home_id": data.get("home_id", "")}
        return _step(request, who, "resident", 409 if isinstance(err, Conflict) else 422, values=values,
                     opts=resident_opts(), resident=None, errors=problems(err, LABELS["resident"]))
    return RedirectResponse(f"/enrol/residents/{made.id}/setup/devices?done=enrolled", status_code=303)


# -- later steps: on the resident's record -----------------------------------------------------

def _options(step: str, view: Overview, services: list) -> dict[str, Any]:
    if step == "devices":
        return {"type": [(name, t.label) for name, t in DEVICE_TYPES.items() if name != "gateway"],
                "room": choices(Room), "role": choices(ContactRole)}
    if step == "contacts":
        return {"service": [(str(r.id), r.name) for r in services],
                "kind": [(k.value, k.value.capitalize()) for k in ResponderKind]}
    if step == "escalation":
        people = [(str(c.responder.id), f"{c.responder.name} ({c.relation or c.responder.kind.value})")
                  for c in view.contacts]
        named = {r for r, _ in people}
        return {"who": people + [(str(r.id), r.name) for r in services if str(r.id) not in named]}
    if step == "consent":
        return {"responder_id": [(str(c.responder.id), c.responder.name) for c in view.contacts
                                 if c.responder.kind in CONSENTING_TO],
                "scope": [(s.value, SCOPE_WORDS[s]) for s in ConsentScope]}
    return {}


def _defaults(step: str, who: Principal) -> dict[str, Any]:
    return {"devices": {"type": "", "serial": "", "room": "", "role": "", "device_id": "", "installed_by": who.username},
            "contacts": {"service": "", "name": "", "kind": "family", "phones": "", "route": "", "relation": "",
                         "key_holder": "", "availability": ""},
            "escalation": {"name": "All day", "active_from": "", "active_until": ""}
                          | {f"step{n}": "" for n in range(1, CHAIN_ROWS + 1)}
                          | {f"wait{n}": "5" for n in range(1, CHAIN_ROWS + 1)},
            "consent": {"responder_id": "", "scope": [], "granted_on": ""}}.get(step, {})  # nothing shared unless ticked


def _later_step(request: Request, who: Principal, resident_id: int, step: str, status_code: int = 200,
                values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, done: str = "") -> HTMLResponse:
    try:
        with Session(request.app.state.registry) as s, s.begin():
            view = enrolment.overview(s, resident_id)
            services = enrolment.service_responders(s)
            access.log_access(s, who, f"page enrol {step}", home_id=view.resident.home_id, resident_id=resident_id,
                              now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    return _step(request, who, step, status_code, view=view, resident=view.resident, opts=_options(step, view, services),
                 values=values or _defaults(step, who), errors=errors or {}, done=DONE.get(done, ""))


@router.get("/enrol/residents/{resident_id}/setup/{step}", response_class=HTMLResponse)
def setup_step(request: Request, resident_id: RowId, step: str, done: str = Query("", max_length=20),
               who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    if step == "resident":
        return RedirectResponse(f"/enrol/residents/{resident_id}/edit", status_code=303)
    if step not in TITLES:
        return not_found(request, who, "step", resident_id)
    return _later_step(request, who, resident_id, step, done=done)


def _home_of(request: Request, resident_id: int) -> str:
    with Session(request.app.state.registry) as s:
        return residents.get_resident(s, resident_id).home_id


def _add_device(s: Session, who: Principal, home_id: str, form: FormData, now: datetime) -> None:
    values = {k: text(form, k, 200) for k in LABELS["devices"]}
    devices.register_device(s, actor(who), {
        "home_id": home_id, "type": values["type"], "serial": values["serial"], "room": values["room"] or None,
        "role": values["role"] or None, "device_id": values["device_id"] or None, "installed_at": now,
        "installed_by": values["installed_by"] or who.username}, now=now)


def _add_contact(s: Session, who: Principal, home_id: str, form: FormData, now: datetime) -> None:
    values = {k: text(form, k, 2000) for k in LABELS["contacts"]}
    try:
        windows = parse_windows(values["availability"])
    except ValueError as err:
        raise Invalid.one("availability", str(err)) from None
    if values["service"].isdigit():
        responder_id = int(values["service"])
    else:
        route = values["route"]
        responder_id = contacts.create_responder(s, actor(who), {
            "name": values["name"], "kind": values["kind"], "phones": split_list(values["phones"]),
            "routes": [{"kind": "webhook" if route.startswith(("https://", "http://")) else "apprise", "target": route}]
            if route else []}, now=now).id
    contacts.add_contact(s, actor(who), home_id, {"responder_id": responder_id, "relation": values["relation"],
                                                  "key_holder": bool(values["key_holder"]), "availability": windows},
                         now=now)


def _add_chain(s: Session, who: Principal, home_id: str, form: FormData, now: datetime) -> None:
    values = {k: text(form, k, 100) for k in LABELS["escalation"]}
    rows = [n for n in range(1, CHAIN_ROWS + 1) if values[f"step{n}"]]
    aliases = {"steps": "step1", "(row)": "active_until"}  # the chain's only check of the whole: its times
    for i, n in enumerate(rows):
        aliases |= {f"steps.{i}.responder_id": f"step{n}", f"steps.{i}.wait_minutes": f"wait{n}"}
    try:
        chains.create_chain(s, actor(who), {
            "home_id": home_id, "name": values["name"], "active_from": clock_time(values["active_from"], "active_from"),
            "active_until": clock_time(values["active_until"], "active_until"),
            "steps": [{"responder_id": values[f"step{n}"], "wait_minutes": values[f"wait{n}"] or "5"} for n in rows]},
            now=now)
    except Invalid as err:
        raise _Aliased(err, aliases) from None


def _grant(s: Session, who: Principal, resident_id: int, form: FormData, now: datetime) -> None:
    consent.grant_consent(s, actor(who), resident_id, {
        "responder_id": text(form, "responder_id", 12), "scope": many(form, "scope"),
        "granted_at": moment(day(text(form, "granted_on", 10), "granted_at"), now)}, now=now)


class _Aliased(Exception):
    """A service's problems with how this form names their fields."""

    def __init__(self, err: Invalid, aliases: dict[str, str]):
        self.err, self.aliases = err, aliases


@router.post("/enrol/residents/{resident_id}/setup/{step}", response_class=HTMLResponse)
def setup_post(request: Request, resident_id: RowId, step: str, form: FormData = Depends(posted),
               who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    now = deps.now(request)
    if step == "check":
        return _finish(request, who, resident_id)
    if step not in ("devices", "contacts", "escalation", "consent"):
        return not_found(request, who, "step", resident_id)
    values: dict[str, Any] = {k: text(form, k, 2000) for k in LABELS[step]} | (
        {"scope": many(form, "scope")} if step == "consent" else {})
    aliases: dict[str, str] = {"granted_at": "granted_on", "routes": "route"}
    try:
        home_id = _home_of(request, resident_id)
        with Session(request.app.state.registry) as s, s.begin():
            if step == "devices":
                _add_device(s, who, home_id, form, now)
            elif step == "contacts":
                _add_contact(s, who, home_id, form, now)
            elif step == "escalation":
                _add_chain(s, who, home_id, form, now)
            else:
                _grant(s, who, resident_id, form, now)
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    except _Aliased as bad:
        return _later_step(request, who, resident_id, step, 422, values, problems(bad.err, LABELS[step], bad.aliases))
    except (Invalid, Conflict) as err:
        return _later_step(request, who, resident_id, step, 409 if isinstance(err, Conflict) else 422, values,
                           problems(err, LABELS[step], aliases))
    done = {"devices": "device", "contacts": "contact", "escalation": "chain", "consent": "consent"}[step]
    return RedirectResponse(f"/enrol/residents/{resident_id}/setup/{step}?done={done}", status_code=303)


def _finish(request: Request, who: Principal, resident_id: int) -> Response:
    """Ready for the installer: the resident moves on to installation (if not already further)."""
    try:
        with Session(request.app.state.registry) as s, s.begin():
            r = residents.get_resident(s, resident_id)
            if r.status in WORKFLOW and WORKFLOW.index(r.status) < WORKFLOW.index(ResidentStatus.INSTALLATION):
                residents.set_status(s, actor(who), resident_id, ResidentStatus.INSTALLATION, version=r.version,
                                     now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    except (Invalid, Conflict) as err:
        return _later_step(request, who, resident_id, "check", 409, errors=problems(err, []))
    return RedirectResponse(f"/enrol/homes/{r.home_id}/install?resident={resident_id}", status_code=303)

