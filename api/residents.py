"""Residents: enrol (with their home and address), read, change, move through the workflow,
review, remove with a reason, and search. Coordinators and admins change them; whoever handles a
call reads the resident card. The work is in ``registry/residents.py`` and ``registry/cards.py``."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request, Response

from tecwatch.api import access
from tecwatch.api.deps import NowDep, RowId, SessionDep, Editor, Staff, errors
from tecwatch.api.enrolment import (
    CHANGE_ERRORS, CREATE_ERRORS, IfMatch, Versioned, actor, etag, expected, logged, tagged, unversioned,
)
from tecwatch.registry import cards, residents
from tecwatch.registry.cards import ResidentCard
from tecwatch.registry.changes import Page
from tecwatch.registry.fields import When, vocab
from tecwatch.registry.residents import NewResident, ResidentChange, ResidentRecord, ResidentSummary
from tecwatch.registry.vocab import RemovalReason, ResidentStatus

router = APIRouter(prefix="/api/residents", tags=["residents"], responses=errors(401, 403, 404, 422))
NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot compare text holding a NUL


class ResidentPatch(ResidentChange, Versioned):
    """The fields to change (only those given change; null clears one that may be empty)."""


class StatusChange(Versioned):
    status: vocab(ResidentStatus)  # type: ignore[valid-type]


class Review(Versioned):
    reviewed_on: date
    next_review_on: date | None = None


class Removal(Versioned):
    reason: vocab(RemovalReason)  # type: ignore[valid-type]
    left_at: When  # when the service ended


@router.get("")
def search_residents(
    who: Staff, session: SessionDep, at: NowDep,
    name: str | None = Query(None, max_length=200, pattern=NO_NUL, description="part of the full or preferred name"),
    postcode: str | None = Query(None, max_length=10, pattern=NO_NUL, description="the start of the postcode"),
    home_id: str | None = Query(None, max_length=64, pattern=NO_NUL),
    nhs_number: str | None = Query(None, max_length=20, pattern=NO_NUL),
    council_ref: str | None = Query(None, max_length=40, pattern=NO_NUL),
    status: ResidentStatus | None = None,
    review_due_by: date | None = Query(None, description="a review due on or before this day"),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=2**31 - 1),
) -> Page[ResidentSummary]:
    """Residents matching every filter given, by name, a page at a time."""
    asked = ", ".join(f"{k} {v}" for k, v in (("name", name), ("postcode", postcode), ("home", home_id),
                                              ("council ref", council_ref), ("status", status),
                                              ("review due by", review_due_by)) if v)
    page = residents.search_residents(session, name=name, postcode_prefix=postcode, home_id=home_id, nhs=nhs_number,
                                      council_ref=council_ref, status=status, review_due_by=review_due_by,
                                      limit=limit, offset=offset)
    # The NHS number is what identifies someone: the log says one was asked for, not which.
    detail = asked + (", an NHS number" if nhs_number else "")
    access.log_access(session, who, "search residents", home_id=home_id, detail=f"{detail}: {page.total} found",
                      now=at)
    return page


@router.post("", status_code=201, responses=CREATE_ERRORS | tagged(201))
def create_resident(body: NewResident, request: Request, response: Response, who: Editor, session: SessionDep,
                    at: NowDep) -> ResidentRecord:
    """Enrol a resident with a new home (``home``: address, postcode, district) or at an enrolled
    one (``home_id``: e.g. the second of a couple)."""
    out = residents.create_resident(session, actor(who), body, now=at)
    access.log_access(session, who, "create resident", home_id=out.home_id, resident_id=out.id, now=at)
    response.headers["Location"] = f"/api/residents/{out.id}"
    etag(response, out.version)
    return out


@router.get("/{resident_id}", responses=tagged())
def get_resident(resident_id: RowId, request: Request, response: Response, who: Editor,
                 session: SessionDep) -> ResidentRecord:
    """The whole record, with its home (the ETag is the version to change it against)."""
    out = logged(request, session, who, "read resident", lambda: residents.get_resident(session, resident_id),
                 resident_id=resident_id)
    etag(response, out.version)
    return out


@router.get("/{resident_id}/card")
def resident_card(resident_id: RowId, request: Request, who: Staff, session: SessionDep,
                  at: NowDep) -> ResidentCard:
    """What helps on a call: preferred name, age, phones, address, communication needs,
    conditions, risks, GP, the people to call in order (phones, key holders, who can be called
    now) and whether there is access information to reveal."""
    return logged(request, session, who, "read resident card",
                  lambda: cards.resident_card(session, resident_id, now=at), resident_id=resident_id)


@router.patch("/{resident_id}", responses=CHANGE_ERRORS | tagged())
def update_resident(resident_id: RowId, body: ResidentPatch, request: Request, response: Response, who: Editor,
                    session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ResidentRecord:
    """Change the fields given, against the version read (If-Match, or ``version``)."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "update resident",
                 lambda: residents.update_resident(session, actor(who), resident_id,
                                                   unversioned(body, ResidentChange), version=version, now=at),
                 resident_id=resident_id)
    etag(response, out.version)
    return out


@router.post("/{resident_id}/status", responses=CHANGE_ERRORS | tagged())
def set_status(resident_id: RowId, body: StatusChange, request: Request, response: Response, who: Editor,
               session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ResidentRecord:
    """Move on through the workflow: referral, assessment, installation, monitoring (forward
    only; removal is its own step, with a reason)."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "change resident status",
                 lambda: residents.set_status(session, actor(who), resident_id, body.status, version=version, now=at),
                 resident_id=resident_id)
    etag(response, out.version)
    return out


@router.post("/{resident_id}/reviews", responses=CHANGE_ERRORS | tagged())
def record_review(resident_id: RowId, body: Review, request: Request, response: Response, who: Editor,
                  session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ResidentRecord:
    """A review held on ``reviewed_on``, and when the next is due."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "review resident",
                 lambda: residents.record_review(session, actor(who), resident_id, reviewed_on=body.reviewed_on,
                                                 next_review_on=body.next_review_on, version=version, now=at),
                 resident_id=resident_id)
    etag(response, out.version)
    return out


@router.post("/{resident_id}/removal", responses=CHANGE_ERRORS | tagged())
def remove_resident(resident_id: RowId, body: Removal, request: Request, response: Response, who: Editor,
                    session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ResidentRecord:
    """End the service, saying why (died, residential_care, moved_away, no_longer_needed,
    declined) and when. The last resident of a home takes its devices with them."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "remove resident",
                 lambda: residents.remove_resident(session, actor(who), resident_id, reason=body.reason,
                                                   left_at=body.left_at, version=version, now=at),
                 resident_id=resident_id)
    etag(response, out.version)
    return out
