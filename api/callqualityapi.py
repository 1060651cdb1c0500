"""Call quality over HTTP, for admins (the supervisors): calls handled per handler in a month,
audits of them, and audits per handler against the standard (api/callquality.py). Every list of
calls and every audit is access-logged, as a read of the alerts it names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session

from tecwatch.api import access, callquality, deps
from tecwatch.api.access import Principal
from tecwatch.api.callquality import MONTH, Audit, AuditIn, CallQualityError, CallQualityMonth, HandledCall
from tecwatch.api.deps import errors, registry, require
from tecwatch.registry.models import UserRole

router = APIRouter(prefix="/api/call-quality", tags=["call quality"], responses=errors(401, 403, 422))

Supervisor = Annotated[Principal, Depends(require(UserRole.ADMIN))]
Registry = Annotated[Session, Depends(registry, scope="function")]
Month = Annotated[str | None, Query(pattern=MONTH, description="A UTC month, YYYY-MM, when the alerts were raised; "
                                                               "this month if left out")]


def _month(request: Request, month: str | None) -> str:
    return month or callquality.this_month(deps.now(request).date())


@router.get("")
def month_summary(request: Request, who: Supervisor, session: Registry, month: Month = None) -> CallQualityMonth:
    """Calls handled and audited per call handler, against the standard of two audits a month."""
    month = _month(request, month)
    out = callquality.month_summary(session, month)
    access.log_access(session, who, "call quality summary", detail=month, now=deps.now(request))
    return out


@router.get("/calls")
def handled_calls(request: Request, who: Supervisor, session: Registry, month: Month = None,
                  handler: Annotated[str | None, Query(max_length=100)] = None) -> list[HandledCall]:
    """Each handler's part in each alert raised in the month (one handler's, if named), with its audit."""
    month = _month(request, month)
    calls = callquality.handled_calls(session, month, handler)
    for call in calls:
        access.log_access(session, who, "list handled calls", home_id=call.home_id, alert_id=call.alert_id,
                          detail=f"{month} {call.handler}", now=deps.now(request))
    return calls


@router.post("/audits", status_code=201, responses=errors(400, 404, 409))
def record_audit(request: Request, who: Supervisor, session: Registry, body: AuditIn) -> Audit:
    """Audit one handler's part in one alert: greeting and identity check, correct action, trail
    complete, a score from 1 to 5 and a note. One audit per call and handler (409 for a second)."""
    try:
        audit = callquality.record_audit(session, who.username, body, deps.now(request))
    except CallQualityError as err:
        raise HTTPException(err.status, str(err)) from err
    access.log_access(session, who, "audit call", alert_id=body.alert_id, detail=body.handler, now=deps.now(request))
    return audit
