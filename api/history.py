"""The registry's audit, for coordinators and admins: who changed which record, when, which
fields, old and new values (secrets only as "(changed)"). Reading it is access-logged."""

from __future__ import annotations

from fastapi import APIRouter, Query

from tecwatch.api import access
from tecwatch.api.deps import Editor, NowDep, SessionDep, errors
from tecwatch.registry import history
from tecwatch.registry.changes import Page
from tecwatch.registry.history import AuditRecord

router = APIRouter(tags=["audit"], responses=errors(401, 403, 422))
TEXT = r"^[^\x00]*$"


@router.get("/api/audit")
def read_audit(
    who: Editor, session: SessionDep, at: NowDep,
    entity: str | None = Query(None, max_length=40, pattern=TEXT,
                               description="a kind of record: resident, home, device, responder, contact, chain, "
                                           "consent, access_info"),
    entity_id: str | None = Query(None, max_length=64, pattern=TEXT, description="that record's id"),
    home_id: str | None = Query(None, max_length=64, pattern=TEXT),
    resident_id: int | None = Query(None, ge=1, le=2**31 - 1),
    actor: str | None = Query(None, max_length=200, pattern=TEXT, description="part of the name of who made it"),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=2**31 - 1),
) -> Page[AuditRecord]:
    """Changes to the registry's records, newest first, a page at a time."""
    page = history.read_audit(session, entity=entity, entity_id=entity_id, home_id=home_id, resident_id=resident_id,
                              actor=actor, limit=limit, offset=offset)
    asked = ", ".join(f"{k} {v}" for k, v in (("entity", entity), ("id", entity_id), ("actor", actor)) if v)
    access.log_access(session, who, "read registry audit", home_id=home_id, resident_id=resident_id,
                      detail=f"{asked}: {page.total} changes" if asked else f"{page.total} changes", now=at)
    return page
