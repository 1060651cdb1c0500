"""The coordinators' pages (the TEC team; admins too): residents found by name, postcode, home
or NHS number, a page at a time; a resident's record, edited against the version it was read at
(a change someone else saved meanwhile is shown, never overwritten); moving them on through the
workflow; and removal with a reason. The enrolment wizard is api/webwizard.py, the install
checklist api/webinstall.py. Every read of a person's data here is access-logged."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import RowId
from tecwatch.api.web import page_user
from tecwatch.api.webforms import (
    ENROLMENT, actor, choices, day, many, moment, optional, posted, problems, render, split_list, text, version,
)
from tecwatch.registry import chains, consent, contacts, enrolment, residents
from tecwatch.registry.changes import Conflict, Invalid, NotFound
from tecwatch.registry.residents import ResidentRecord
from tecwatch.registry.vocab import (
    WORKFLOW, CommunicationNeed, Mobility, PrimaryNeed, ReferralSource, RemovalReason, ResidentStatus, Risk,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
RESIDENT_LABELS = {
    "name": "Full name", "preferred_name": "Preferred name", "date_of_birth": "Date of birth", "nhs_number": "NHS number",
    "council_ref": "Council reference", "phones": "Phone numbers", "language": "Language",
    "communication_needs": "Communication needs", "primary_need": "Primary need", "mobility": "Mobility",
    "risks": "Risks", "conditions": "Conditions", "medication": "Medication", "allergies": "Allergies",
    "gp_practice": "GP practice", "referral_source": "Referred by", "referral_date": "Referral date",
    "next_review_on": "Next review",
}
SEARCH_LABELS = {"name": "Name", "postcode": "Postcode", "home": "Home", "nhs": "NHS number", "status": "Status"}
REMOVAL_LABELS = {"reason": "Why they are leaving the service", "left_on": "Date they left"}
DONE = {"saved": "Changes saved.", "status": "Status changed.", "removed": "Removed from the service.",
        "device-removed": "Device removed.", "monitoring": "Installation finished: the home is now monitored.",
        "consents": "Consent withdrawn.", "contacts": "Contact ended: they are no longer called.",
        "chains": "Escalation chain retired: new alerts follow the others.",
        "access": "Access information saved."}
_TEXTS = ("preferred_name", "language", "conditions", "medication", "allergies", "gp_practice")
_OPTIONAL = ("council_ref", "nhs_number", "mobility", "referral_source", "date_of_birth", "referral_date",
             "next_review_on")


def resident_input(form: FormData) -> dict[str, Any]:
    """A resident's posted details as the resident service takes them."""
    data: dict[str, Any] = {f: text(form, f) for f in _TEXTS} | {f: optional(form, f) for f in _OPTIONAL}
    return data | {"name": text(form, "name", 300), "primary_need": text(form, "primary_need") or PrimaryNeed.OTHER.value,
                   "phones": split_list(text(form, "phones")), "communication_needs": many(form, "communication_needs"),
                   "risks": many(form, "risks")}


def shown(data: dict[str, Any]) -> dict[str, Any]:
    """Posted details as the form shows them again."""
    return {k: (", ".join(v) if k == "phones" else v if isinstance(v, list) else v or "") for k, v in data.items()}


def record_values(r: ResidentRecord) -> dict[str, Any]:
    """A stored record as the form shows it."""
    values = r.model_dump(mode="json", include=set(RESIDENT_LABELS))
    return shown(values)


def resident_opts() -> dict[str, list[tuple[str, str]]]:
    return {"primary_need": choices(PrimaryNeed), "mobility": choices(Mobility), "risks": choices(Risk),
            "communication_needs": choices(CommunicationNeed), "referral_source": choices(ReferralSource),
            "status": choices(WORKFLOW), "removal": choices(RemovalReason)}


def not_found(request: Request, who: Principal, what: str, resident_id: int | None = None,
              home_id: str | None = None) -> HTMLResponse:
    deps.log_denied(request, who, f"page {what}", resident_id=resident_id, home_id=home_id, detail=f"no such {what}")
    return render(request, "message.html", who, 404, title="Not found", message=f"There is no such {what}.",
                  back="/enrol")


def _session(request: Request) -> Session:
    return Session(request.app.state.registry)


# -- finding residents -----------------------------------------------------------------------

@router.get("/enrol", response_class=HTMLResponse)
def resident_list(request: Request, name: str = Query("", max_length=200), postcode: str = Query("", max_length=10),
                  home: str = Query("", max_length=64), nhs: str = Query("", max_length=20),
                  status: str = Query("", max_length=20), offset: int = Query(0, ge=0, le=2**31 - 1),
                  who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    form = {"name": name.strip(), "postcode": postcode.strip(), "home": home.strip(), "nhs": nhs.strip(),
            "status": status}
    context: dict[str, Any] = {"form": form, "page": None, "labels": SEARCH_LABELS, "opts": resident_opts()}
    asked = " ".join(f"{k}={v!r}" for k, v in form.items() if v) or "everyone"
    try:
        if status and status not in {s.value for s in ResidentStatus}:
            raise Invalid.one("status", "choose a status from the list")
        with _session(request) as s, s.begin():
            page = residents.search_residents(
                s, name=form["name"] or None, postcode_prefix=form["postcode"] or None, home_id=form["home"] or None,
                nhs=form["nhs"] or None, status=ResidentStatus(status) if status else None, limit=PAGE_SIZE, offset=offset)
            access.log_access(s, who, "page residents", detail=f"search {asked}: {page.total} found"[:300],
                              now=deps.now(request))
    except Invalid as err:
        return render(request, "enrol_list.html", who, 422, errors=problems(err, SEARCH_LABELS, {"nhs_number": "nhs"}),
                      **context)

    def link(at: int) -> str:
        return "/enrol?" + urlencode({k: v for k, v in form.items() if v} | {"offset": at})

    return render(request, "enrol_list.html", who, **context | {
        "page": page, "newer": link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        "older": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < page.total else None})


# -- the record ------------------------------------------------------------------------------

def _record(request: Request, who: Principal, resident_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    try:
        with _session(request) as s, s.begin():
            view = enrolment.overview(s, resident_id)
            access.log_access(s, who, "page resident record", home_id=view.resident.home_id, resident_id=resident_id,
                              now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    current = view.resident.status
    later = [] if current is ResidentStatus.REMOVED else WORKFLOW[WORKFLOW.index(current) + 1:]
    return render(request, "resident.html", who, status_code, view=view, next_statuses=choices(later),
                  labels={"status": "Move on to"}, **{"done": "", **extra})


@router.get("/enrol/residents/{resident_id}", response_class=HTMLResponse)
def resident_record(request: Request, resident_id: RowId, done: str = Query("", max_length=20),
                    who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    return _record(request, who, resident_id, done=DONE.get(done, ""))


@router.post("/enrol/residents/{resident_id}/status", response_class=HTMLResponse)
def change_status(request: Request, resident_id: RowId, form: FormData = Depends(posted),
                  who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    try:
        with _session(request) as s, s.begin():
            residents.set_status(s, actor(who), resident_id, text(form, "status", 20), version=version(form),
                                 now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    except (Invalid, Conflict) as err:
        return _record(request, who, resident_id, 409 if isinstance(err, Conflict) else 422,
                       errors=problems(err, ["status"]))
    return RedirectResponse(f"/enrol/residents/{resident_id}?done=status", status_code=303)


# -- editing, against the version read --------------------------------------------------------

def _edit_page(request: Request, who: Principal, record: ResidentRecord, status_code: int = 200,
               **extra: Any) -> HTMLResponse:
    return render(request, "resident_edit.html", who, status_code, resident=record, values=record_values(record),
                  opts=resident_opts(), labels=RESIDENT_LABELS, **{"conflict": None, **extra})


@router.get("/enrol/residents/{resident_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, resident_id: RowId, who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    try:
        with _session(request) as s, s.begin():
            record = residents.get_resident(s, resident_id)
            access.log_access(s, who, "page edit resident", home_id=record.home_id, resident_id=resident_id,
                              now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    return _edit_page(request, who, record)


@router.post("/enrol/residents/{resident_id}/edit", response_class=HTMLResponse)
def edit(request: Request, resident_id: RowId, form: FormData = Depends(posted),
         who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    data = resident_input(form)
    try:
        with _session(request) as s, s.begin():
            residents.update_resident(s, actor(who), resident_id, data, version=version(form), now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    except Invalid as err:
        with _session(request) as s:
            record = residents.get_resident(s, resident_id)
        # The form as they filled it in, still at the version they read.
        return _edit_page(request, who, record.model_copy(update={"version": version(form)}), 422,
                          values=shown(data), errors=problems(err, RESIDENT_LABELS))
    except Conflict as err:
        found = problems(err, RESIDENT_LABELS)
        with _session(request) as s, s.begin():
            record = residents.get_resident(s, resident_id)
            access.log_access(s, who, "page edit resident", home_id=record.home_id, resident_id=resident_id,
                              detail="the current version, after a conflicting change", now=deps.now(request))
        if "" not in found:  # a field's value is taken (an NHS number on someone else's record)
            return _edit_page(request, who, record.model_copy(update={"version": version(form)}),
                              409, values=shown(data), errors=found)
        # Someone else saved first: show what is stored now, and what this person tried to save.
        current = record_values(record)
        unsaved = [(RESIDENT_LABELS[k], v) for k, v in shown(data).items() if k in current and v != current[k]]
        return _edit_page(request, who, record, 409, conflict=unsaved)
    return RedirectResponse(f"/enrol/residents/{resident_id}?done=saved", status_code=303)


# -- removal with a reason ---------------------------------------------------------------------

@router.get("/enrol/residents/{resident_id}/remove", response_class=HTMLResponse)
def removal_form(request: Request, resident_id: RowId, who: Principal = Depends(page_user(*ENROLMENT))) -> HTMLResponse:
    try:
        with _session(request) as s, s.begin():
            view = enrolment.overview(s, resident_id)
            access.log_access(s, who, "page remove resident", home_id=view.resident.home_id, resident_id=resident_id,
                              now=deps.now(request))
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    return render(request, "resident_remove.html", who, view=view, values={"reason": "", "left_on": ""},
                  version=view.resident.version, opts=resident_opts(), labels=REMOVAL_LABELS)


@router.post("/enrol/residents/{resident_id}/remove", response_class=HTMLResponse)
def remove(request: Request, resident_id: RowId, form: FormData = Depends(posted),
           who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    values = {"reason": text(form, "reason", 40), "left_on": text(form, "left_on", 10)}
    now = deps.now(request)
    try:
        with _session(request) as s, s.begin():
            residents.remove_resident(s, actor(who), resident_id, reason=values["reason"],
                                      left_at=moment(day(values["left_on"], "left_on"), now), version=version(form),
                                      now=now)
    except NotFound:
        return not_found(request, who, "resident", resident_id)
    except (Invalid, Conflict) as err:
        with _session(request) as s:
            view = enrolment.overview(s, resident_id)
        return render(request, "resident_remove.html", who, 409 if isinstance(err, Conflict) else 422, view=view,
                      values=values, version=view.resident.version, opts=resident_opts(), labels=REMOVAL_LABELS,
                      errors=problems(err, REMOVAL_LABELS, {"left_at": "left_on"}))
    return RedirectResponse(f"/enrol/residents/{resident_id}?done=removed", status_code=303)


# -- ending what the record lists: a consent, a contact, the home's own escalation chain -------

# Each ended through its own service, as the API ends it; ``listed`` finds it on the record.
ENDINGS = {
    "consents": (lambda view: view.consents, consent.withdraw_consent),
    "contacts": (lambda view: view.contacts, contacts.end_contact),
    "chains": (lambda view: view.chains, chains.retire_chain),
}


@router.post("/enrol/residents/{resident_id}/{kind}/{item_id}/end", response_class=HTMLResponse)
def end_item(request: Request, resident_id: RowId, kind: str, item_id: RowId, form: FormData = Depends(posted),
             who: Principal = Depends(page_user(*ENROLMENT))) -> Response:
    """Withdraw a consent, end a contact or retire the home's own chain, from the record page,
    against the version shown. Only what this resident's record lists can be ended here."""
    if kind not in ENDINGS:
        return not_found(request, who, "record entry", resident_id)
    listed, end = ENDINGS[kind]
    try:
        with _session(request) as s, s.begin():
            view = enrolment.overview(s, resident_id)
            if item_id not in {item.id for item in listed(view)}:
                raise NotFound(f"resident {resident_id}'s record lists no {kind[:-1]} {item_id}")
            end(s, actor(who), item_id, version=version(form), now=deps.now(request))
    except NotFound:
        return not_found(request, who, kind[:-1], resident_id)
    except (Invalid, Conflict) as err:
        return _record(request, who, resident_id, 409 if isinstance(err, Conflict) else 422,
                       errors=problems(err, []))
    return RedirectResponse(f"/enrol/residents/{resident_id}?done={kind}", status_code=303)
