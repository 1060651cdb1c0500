"""Family endpoints: the residents a family member may see, their record within what each
consented to share, and how each one is today."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request

from tecwatch.api import access, deps
from tecwatch.api.deps import PeopleReader, RowId, SessionDep, errors
from tecwatch.api.enrolment import logged
from tecwatch.registry import cards, consent, familyview
from tecwatch.registry.cards import FamilyRecord
from tecwatch.registry.familyview import ResidentPage, Status
from tecwatch.registry.vocab import ConsentScope

router = APIRouter(prefix="/api/family", tags=["family"], responses=errors(401, 403, 404, 422))


@router.get("/residents")
def residents(request: Request, who: PeopleReader, session: SessionDep, limit: int = Query(100, ge=1, le=1000),
              offset: int = Query(0, ge=0, le=2**31 - 1)) -> ResidentPage:
    """The residents this account may see (a family member: those who consented)."""
    access.log_access(session, who, "list residents", now=deps.now(request))
    return familyview.list_residents(session, access.visible_resident_ids(session, who), limit, offset)


@router.get("/residents/{resident_id}/status")
def resident_status(request: Request, resident_id: RowId, who: PeopleReader, session: SessionDep) -> Status:
    """'Is Dad OK?': last activity, today against the usual routine, open alerts, device problems, a week of activity."""
    try:
        home_id = familyview.resident_home(session, resident_id, access.visible_resident_ids(session, who))
        out = familyview.status(session, request.app.state.store, resident_id, request.app.state.settings.alerts)
    except familyview.ResidentNotFound as err:
        # Someone else's relative (or nobody): asked for and refused, never a read of them.
        deps.log_denied(request, who, "read resident status", resident_id=resident_id, detail=str(err))
        raise HTTPException(404, str(err)) from err
    access.log_access(session, who, "read resident status", home_id=home_id, resident_id=resident_id,
                      now=deps.now(request))
    return out


@router.get("/residents/{resident_id}")
def resident_record(request: Request, resident_id: RowId, who: PeopleReader, session: SessionDep) -> FamilyRecord:
    """A relative's basic record, cut to what they consented to share: the stage of their
    service with the status scope, their devices with the devices scope (staff see it all)."""
    if who.role in access.ALL_HOMES:
        scope = set(ConsentScope)
    else:
        scope = consent.consented_scope(session, resident_id, who.responder_id) if who.responder_id else set()
    if not scope:
        # Someone else's relative (or nobody): asked for and refused, never a read of them.
        deps.log_denied(request, who, "read resident record", resident_id=resident_id, detail="no consent to share")
        raise HTTPException(404, f"no resident {resident_id}")
    return logged(request, session, who, "read resident record",
                  lambda: cards.family_record(session, resident_id, scope), resident_id=resident_id)
