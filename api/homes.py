"""Home endpoints for the monitoring centre (and family members, for their own relative's home)."""

from __future__ import annotations

from typing import NoReturn

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.orm import Session

from tecwatch.api import access, deps
from tecwatch.registry import homeview
from tecwatch.api.access import Principal
from tecwatch.api.deps import PeopleReader, SessionDep, errors
from tecwatch.registry.homeview import ActivityHour, HomeDetail, HomePage

router = APIRouter(prefix="/api/homes", tags=["homes"], responses=errors(401, 403, 404, 422))


def _visible_home(request: Request, session: Session, who: Principal, home_id: str, action: str) -> None:
    if not access.can_see_home(session, who, home_id):
        _refuse(request, who, home_id, action, "not a home this account may see")


def _refuse(request: Request, who: Principal, home_id: str, action: str, why: str) -> NoReturn:
    deps.log_denied(request, who, action, home_id=home_id, detail=why)  # asked for and refused, not read
    raise HTTPException(404, f"no home {home_id!r}")  # the same answer as a home that does not exist


@router.get("")
def list_homes(request: Request, who: PeopleReader, session: SessionDep,
               district: str | None = Query(None, max_length=80),
               limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31 - 1)) -> HomePage:
    """Homes this account may see, a page at a time (optionally in one district)."""
    access.log_access(session, who, "list homes", detail=f"district {district}" if district else "",
                      now=deps.now(request))
    return homeview.list_homes(session, access.visible_home_ids(session, who), district, limit, offset)


@router.get("/{home_id}")
def get_home(request: Request, home_id: str, who: PeopleReader, session: SessionDep) -> HomeDetail:
    """Resident, devices and their health, hub online, open alerts."""
    _visible_home(request, session, who, home_id, "read home")
    try:
        detail = homeview.home_detail(session, request.app.state.store, home_id, request.app.state.settings.alerts)
    except homeview.HomeNotFound:
        _refuse(request, who, home_id, "read home", "no such home")
    access.log_access(session, who, "read home", home_id=home_id, now=deps.now(request))
    return detail


@router.get("/{home_id}/activity")
def activity(request: Request, home_id: str, who: PeopleReader, session: SessionDep,
             days: int = Query(1, ge=1, le=31)) -> list[ActivityHour]:
    """Activity per hour over the last day (or ``days`` days), empty hours included."""
    _visible_home(request, session, who, home_id, "read activity")
    if not homeview.home_exists(session, home_id):
        _refuse(request, who, home_id, "read activity", "no such home")
    access.log_access(session, who, "read activity", home_id=home_id, now=deps.now(request))
    return homeview.activity_by_hour(request.app.state.store, home_id, days)
