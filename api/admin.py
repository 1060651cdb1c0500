"""Admin operations on people's records: erasure (the work is in ``tecwatch.registry.erasure``), and
reading the access log (``tecwatch.api.accesslog``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tecwatch.alerts.signalcache import DayCache
from tecwatch.api import access, accesslog
from tecwatch.api.access import Principal
from tecwatch.api.accesslog import AccessLogPage, AccessOutcome, FilterError
from tecwatch.api.deps import RowId, errors, registry, require
from tecwatch.registry import erasure
from tecwatch.registry.erasure import Erased, ErasureError, NoSuchResident
from tecwatch.store import StoreUnavailable
from tecwatch.registry.models import LeftReason, UserRole

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=errors(401, 403, 404, 422))


class Erase(BaseModel):
    # Needed only for someone still living at home with the service.
    left_reason: LeftReason | None = None
    left_at: datetime | None = None


@router.post("/residents/{resident_id}/erase", responses=errors(400, 409, 503))
def erase_resident(request: Request, resident_id: RowId, body: Erase, who: Principal = Depends(require(UserRole.ADMIN)),
                   session: Session = Depends(registry, scope="function")) -> Erased:
    """Erase a resident's personal data (name, date-of-birth band, family links; with nobody else
    at home, also the home's address, readings, routine, dead letters and alert text, its id
    replaced by a pseudonym). The commissioners' figures stay as they were."""
    # The alert workers' day cache, reachable when they share this host's data directory.
    cache = DayCache(request.app.state.settings.data_dir / "signals")
    try:
        out = erasure.erase_resident(session, request.app.state.store, resident_id, day_cache=cache,
                                     left_reason=body.left_reason, left_at=body.left_at)
    except NoSuchResident as err:
        raise HTTPException(404, str(err)) from err
    except ErasureError as err:
        raise HTTPException(409, str(err)) from err
    except StoreUnavailable as err:
        raise HTTPException(503, "the home's stored data could not all be deleted, so the registry was left as it"
                                 f" was; ask again: {err}") from err
    access.log_access(session, who, "erase resident", home_id=out.home_id, resident_id=resident_id,
                      now=request.app.state.clock())
    return out


_WHEN = "a date (2026-11-25, its midnight) or an ISO 8601 date and time; UTC unless it gives an offset"


@router.get("/access-log")
def access_log(
    request: Request,
    user: str | None = Query(None, max_length=100, description="only this username"),
    resident: int | None = Query(None, ge=1, le=2**31 - 1, description="rows naming this resident, or their home"),
    home: str | None = Query(None, max_length=64, description="rows about this home"),
    start: str | None = Query(None, alias="from", max_length=40, description=f"from this moment: {_WHEN}"),
    end: str | None = Query(None, alias="to", max_length=40, description=f"up to (not including): {_WHEN}"),
    action: str | None = Query(None, max_length=80, description="actions containing this text (e.g. 'stream')"),
    outcome: AccessOutcome | None = Query(None, description="allowed (the data was sent) or denied (refused)"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
    who: Principal = Depends(require(UserRole.ADMIN)),
    session: Session = Depends(registry, scope="function"),
) -> AccessLogPage:
    """Who read (or was refused) whose data, newest first, a page at a time. This reading is
    logged as well."""
    try:
        f = accesslog.LogFilter.parse(user=user, resident=resident, home=home, start=start, end=end, action=action,
                                      outcome=outcome)
    except FilterError as err:
        raise HTTPException(422, str(err)) from err
    return accesslog.read(session, f, limit, offset, username=who.username, role=who.role,
                          now=request.app.state.clock())
