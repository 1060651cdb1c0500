"""Escalation chains: who is told about an alert, in order, for a home or the county default,
all day or for a time of day (``registry/chains.py``). Coordinators and admins make, change and
retire them; staff read them. An alert already escalating keeps the chain it started with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from tecwatch.api import access
from tecwatch.api.deps import Editor, NowDep, SessionDep, Staff, errors
from tecwatch.api.enrolment import (
    CHANGE_ERRORS, CREATE_ERRORS, HomeId, IfMatch, Versioned, actor, etag, expected, logged, tagged, unversioned,
)
from tecwatch.registry import chains, homes
from tecwatch.registry.chains import ChainIn, ChainRecord

router = APIRouter(tags=["escalation"], responses=errors(401, 403, 404, 422))
ChainId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The chain's number in the registry")]
RETIRED = Query(False, description="retired chains too")


class ChainChange(ChainIn, Versioned):
    """The whole chain as it should now be: name, times and steps (its home cannot change)."""


class Retirement(Versioned):
    """The version as read (or send If-Match instead)."""


@router.get("/api/chains/default")
def default_chains(who: Staff, session: SessionDep, at: NowDep, include_retired: bool = RETIRED) -> list[ChainRecord]:
    """The county default chains (used for a home with none of its own for the time of day),
    all-day first, then by start time."""
    out = chains.list_chains(session, None, include_retired=include_retired)
    access.log_access(session, who, "read default chains", now=at)
    return out


@router.get("/api/homes/{home_id}/chains")
def home_chains(home_id: HomeId, request: Request, who: Staff, session: SessionDep,
                include_retired: bool = RETIRED) -> list[ChainRecord]:
    """A home's own chains, all-day first, then by start time."""
    def listing() -> list[ChainRecord]:
        homes.get_home(session, home_id)  # a home that is not there is a 404, not an empty list
        return chains.list_chains(session, home_id, include_retired=include_retired)

    return logged(request, session, who, "read chains", listing, home_id=home_id)


@router.post("/api/chains", status_code=201, responses=CREATE_ERRORS | tagged(201))
def create_chain(body: ChainIn, request: Request, response: Response, who: Editor, session: SessionDep,
                 at: NowDep) -> ChainRecord:
    """A chain for a home (``home_id``) or the county default (no ``home_id``), all day or from
    ``active_from`` until ``active_until`` local time, with its steps in order."""
    out = logged(request, session, who, "create chain", lambda: chains.create_chain(session, actor(who), body, now=at),
                 home_id=body.home_id)
    response.headers["Location"] = f"/api/chains/{out.id}"
    etag(response, out.version)
    return out


@router.get("/api/chains/{chain_id}", responses=tagged())
def get_chain(chain_id: ChainId, request: Request, response: Response, who: Staff, session: SessionDep) -> ChainRecord:
    out = logged(request, session, who, "read chain", lambda: chains.get_chain(session, chain_id))
    etag(response, out.version)
    return out


@router.put("/api/chains/{chain_id}", responses=CHANGE_ERRORS | tagged())
def update_chain(chain_id: ChainId, body: ChainChange, request: Request, response: Response, who: Editor,
                 session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ChainRecord:
    """Replace the chain's name, times and steps. Alerts already escalating keep their steps."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "update chain",
                 lambda: chains.update_chain(session, actor(who), chain_id, unversioned(body, ChainIn),
                                             version=version, now=at))
    etag(response, out.version)
    return out


@router.post("/api/chains/{chain_id}/retire", responses=CHANGE_ERRORS | tagged())
def retire_chain(chain_id: ChainId, request: Request, response: Response, who: Editor, session: SessionDep,
                 at: NowDep, body: Retirement | None = None, if_match: IfMatch = None) -> ChainRecord:
    """No longer chosen for new alerts (alerts that walked it keep naming it)."""
    version = expected(if_match, body.version if body else None)
    out = logged(request, session, who, "retire chain",
                 lambda: chains.retire_chain(session, actor(who), chain_id, version=version, now=at))
    etag(response, out.version)
    return out
