"""Family endpoints: the residents a family member may see, and how each one is today."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session

from tecwatch.api import access, deps
from tecwatch.registry import familyview
from tecwatch.api.access import Principal
from tecwatch.api.deps import PEOPLE_READERS, RowId, errors, registry, require
from tecwatch.registry.familyview import ResidentPage, Status

router = APIRouter(prefix="/api/family", tags=["family"], responses=errors(401, 403, 404, 422))


@router.get("/residents")
def residents(request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31 - 1),
              who: Principal = Depends(require(*PEOPLE_READERS)), session: Session = Depends(registry, scope="function")) -> ResidentPage:
    """The residents this account may see (a family member: those who consented)."""
    access.log_access(session, who, "list residents", now=deps.now(request))
    return familyview.list_residents(session, access.visible_resident_ids(session, who), limit, offset)


@router.get("/residents/{resident_id}/status")
def resident_status(request: Request, resident_id: RowId, who: Principal = Depends(require(*PEOPLE_READERS)),
                    session: Session = Depends(registry, scope="function")) -> Status:
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
