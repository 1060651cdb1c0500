"""Consent: what a resident agreed to share with a family member or neighbour, recorded and
withdrawn by coordinators and admins (``registry/consent.py``). A withdrawal stops the family
member's next request."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from tecwatch.api.deps import Editor, NowDep, RowId, SessionDep, errors
from tecwatch.api.enrolment import CHANGE_ERRORS, CREATE_ERRORS, IfMatch, Versioned, actor, etag, expected, logged
from tecwatch.registry import consent
from tecwatch.registry.consent import ConsentRecord, NewConsent

router = APIRouter(prefix="/api", tags=["consent"], responses=errors(401, 403, 404, 422))


class Withdrawal(Versioned):
    """The consent's version as read (or send If-Match instead)."""


@router.get("/residents/{resident_id}/consents")
def list_consents(resident_id: RowId, request: Request, who: Editor, session: SessionDep,
                  include_withdrawn: bool = Query(False, description="withdrawn consents too")) -> list[ConsentRecord]:
    """Who the resident agreed may see what (``scope``: status, alerts, activity, devices)."""
    return logged(request, session, who, "read consents",
                  lambda: consent.list_consents(session, resident_id, include_withdrawn=include_withdrawn),
                  resident_id=resident_id)


@router.post("/residents/{resident_id}/consents", status_code=201, responses=CREATE_ERRORS)
def grant_consent(resident_id: RowId, body: NewConsent, request: Request, response: Response, who: Editor,
                  session: SessionDep, at: NowDep) -> ConsentRecord:
    """Record what the resident agreed to share with this family member or neighbour, and when.
    Asking again for the same person changes the scope of their consent."""
    out = logged(request, session, who, "grant consent",
                 lambda: consent.grant_consent(session, actor(who), resident_id, body, now=at),
                 resident_id=resident_id)
    etag(response, out.version)
    return out


@router.post("/consents/{consent_id}/withdraw", responses=CHANGE_ERRORS)
def withdraw_consent(consent_id: RowId, request: Request, response: Response, who: Editor, session: SessionDep,
                     at: NowDep, body: Withdrawal | None = None, if_match: IfMatch = None) -> ConsentRecord:
    """Withdraw a consent from now on."""
    version = expected(if_match, body.version if body else None)
    out = logged(request, session, who, "withdraw consent",
                 lambda: consent.withdraw_consent(session, actor(who), consent_id, version=version, now=at))
    etag(response, out.version)
    return out
