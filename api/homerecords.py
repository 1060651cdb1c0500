"""A home's record: its address (``registry/homes.py``) and its sealed access information
(``registry/accessinfo.py``): the key safe's location and code and other notes. Setting them is
for coordinators and admins; revealing the access information in clear is for whoever may have
to let themselves in or send someone, and every reveal is access-logged by the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from tecwatch.api import deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import Editor, NowDep, SessionDep, SettingsDep, Staff, errors, require
from tecwatch.api.enrolment import (
    CHANGE_ERRORS, HomeId, IfMatch, Versioned, actor, etag, expected, logged, tagged, unversioned,
)
from tecwatch.registry import accessinfo, homes
from tecwatch.registry.accessinfo import AccessInfo, AccessInfoStatus, Sealer
from tecwatch.registry.changes import NotFound
from tecwatch.registry.homes import HomeChange, HomeRecord
from tecwatch.registry.vocab import ACCESS_INFO_ROLES

router = APIRouter(prefix="/api/homes", tags=["homes"], responses=errors(401, 403, 404, 422))
AccessReader = Annotated[Principal, Depends(require(*sorted(ACCESS_INFO_ROLES)))]


def sealer(settings: SettingsDep) -> Sealer:
    return Sealer(settings.registry.encryption_key.get_secret_value())


SealerDep = Annotated[Sealer, Depends(sealer)]


class AddressChange(HomeChange, Versioned):
    """The address fields to change (only those given change)."""


class AccessChange(AccessInfo, Versioned):
    """The whole access information, as it should now be (blank parts are cleared)."""


@router.get("/{home_id}/address", responses=tagged())
def get_address(home_id: HomeId, request: Request, response: Response, who: Staff, session: SessionDep) -> HomeRecord:
    """The home's address, postcode, district, UPRN and time zone."""
    out = logged(request, session, who, "read home address", lambda: homes.get_home(session, home_id), home_id=home_id)
    etag(response, out.version)
    return out


@router.patch("/{home_id}/address", responses=CHANGE_ERRORS | tagged())
def update_address(home_id: HomeId, body: AddressChange, request: Request, response: Response, who: Editor,
                   session: SessionDep, at: NowDep, if_match: IfMatch = None) -> HomeRecord:
    """Correct the address (reports follow a new postcode's area)."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "update home address",
                 lambda: homes.update_home(session, actor(who), home_id, unversioned(body, HomeChange),
                                           version=version, now=at), home_id=home_id)
    etag(response, out.version)
    return out


@router.get("/{home_id}/access", responses=tagged())
def access_status(home_id: HomeId, response: Response, _who: Staff, session: SessionDep) -> AccessInfoStatus:
    """Whether access information is recorded, and who last changed it (never what it says)."""
    out = accessinfo.access_info_status(session, home_id)
    etag(response, out.version)
    return out


@router.put("/{home_id}/access", responses=CHANGE_ERRORS | errors(503) | tagged())
def set_access(home_id: HomeId, body: AccessChange, response: Response, who: Editor, session: SessionDep,
               seal: SealerDep, at: NowDep, if_match: IfMatch = None) -> AccessInfoStatus:
    """Record the key safe's location and code and other access notes (sealed at rest; the audit
    says which parts changed, never what they are). Replacing what is recorded needs its version."""
    recorded = accessinfo.access_info_status(session, home_id).recorded
    if not recorded and if_match is not None:  # no version of it exists for If-Match to name
        raise HTTPException(412, f"no access information is recorded for {home_id!r}: send no If-Match to record it")
    version = expected(if_match, body.version, required=recorded)
    info = AccessInfo(**{f: getattr(body, f) for f in AccessInfo.model_fields})
    out = accessinfo.set_access_info(session, seal, actor(who), home_id, info, version=version, now=at)
    etag(response, out.version)
    return out


@router.post("/{home_id}/access/reveal", responses=errors(503))
def reveal_access(home_id: HomeId, request: Request, response: Response, who: AccessReader, session: SessionDep,
                  seal: SealerDep, at: NowDep) -> AccessInfo:
    """The access information in clear, for staff who may need to get in; every reveal is in the
    access log. (A POST, so that nothing fetches or caches it by accident.)"""
    try:
        out = accessinfo.read_access_info(session, seal, who, home_id, now=at)
    except NotFound as err:
        deps.log_denied(request, who, accessinfo.READ_ACTION, home_id=home_id, detail=str(err))
        raise
    response.headers["Cache-Control"] = "no-store"
    return out
