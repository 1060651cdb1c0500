"""Alert endpoints: the monitoring centre's queue, one alert with its trail, acknowledge,
resolve, notes, live updates, and acknowledging by a notification's signed link."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from tecwatch.alerts import service
from tecwatch.alerts.acklink import BadLink
from tecwatch.alerts.lifecycle import TransitionError
from tecwatch.alerts.service import AlertPage, AlertView, SlowPage
from tecwatch.api import access, deps
from tecwatch.api.access import Credential, Principal
from tecwatch.api.deps import PEOPLE_READERS, STAFF, RowId, errors, registry, require
from tecwatch.api.livestream import LiveStream
from tecwatch.api.reporting import ReportInputError, cuts
from tecwatch.registry.models import Outcome, UserRole

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=errors(401, 403, 404, 422))
# Which alerts were slow, at which homes, is the monitoring centre's to see; commissioners get counts.
CENTRE = (UserRole.OPERATOR, UserRole.ADMIN)


class Acknowledge(BaseModel):
    note: str = Field("", max_length=2000)


class Resolve(Acknowledge):
    outcome: Outcome


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


def _engine(request: Request):
    return request.app.state.registry


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except service.AlertNotFound as err:
        raise HTTPException(404, str(err)) from err
    except TransitionError as err:
        raise HTTPException(409, str(err)) from err
    except BadLink as err:
        raise HTTPException(403, str(err)) from err


def _logged(request: Request, session: Session, who: Principal, action: str, alert_id: int, fn, *args,
            **kwargs) -> AlertView:
    """Call ``fn`` for one alert; the answer carries the alert, so it is logged as a read of it,
    and a refusal (not theirs, or no such alert: the caller cannot tell which) as denied."""
    try:
        out = fn(*args, **kwargs)
    except service.AlertNotFound as err:
        deps.log_denied(request, who, action, alert_id=alert_id, detail=str(err))
        raise HTTPException(404, str(err)) from err
    except TransitionError as err:
        raise HTTPException(409, str(err)) from err
    access.log_access(session, who, action, home_id=out.home_id, alert_id=alert_id, now=deps.now(request))
    return out


def _actor(who: Principal) -> str:
    return f"{who.username} ({who.role.value})"


@router.get("")
def list_alerts(
    request: Request,
    open_only: bool = True,
    home_id: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
    who: Principal = Depends(require(*PEOPLE_READERS)),
    session: Session = Depends(registry, scope="function"),
) -> AlertPage:
    """Open alerts, most urgent first (priority, then oldest), a page at a time."""
    visible = access.visible_home_ids(session, who)
    if home_id is not None and visible is not None and home_id not in visible:
        # Someone else's home: the answer is the empty page any home without alerts gives, and
        # the log says it was asked for and refused, not read.
        access.log_denied(session, who, "list alerts", home_id=home_id, detail="not a home this account may see",
                          now=deps.now(request))
    else:
        access.log_access(session, who, "list alerts", home_id=home_id, now=deps.now(request))
    page = service.list_alerts(_engine(request), open_only=open_only, home_id=home_id, visible=visible,
                               limit=limit, offset=offset, staff=who.role in access.ALL_HOMES)
    return page


@router.get("/stream")
async def stream(
    request: Request,
    who: Principal = Depends(require(*PEOPLE_READERS)),
    credential: Credential = Depends(deps.credential),
    last_event_id: int | None = Header(None, alias="Last-Event-ID", ge=0, le=2**63 - 1),
) -> EventSourceResponse:
    """Server-sent events: one `alert` event for every change to an alert the caller may see.
    The caller's authorisation is checked again before events are sent; when it no longer holds
    (account disabled, signed out, consent withdrawn) an `end` event says why and the stream ends."""
    engine, poll = _engine(request), request.app.state.settings.api.stream_poll_s
    cursor = last_event_id if last_event_id is not None else await run_in_threadpool(service.latest_change, engine)
    live = await run_in_threadpool(LiveStream(engine, credential, deps.token_secret(request), request.app.state.clock,
                                              who, cursor).open)

    async def events():
        yield {"event": "ready", "id": str(live.cursor), "data": "{}"}
        while not await request.is_disconnected():
            batch = await run_in_threadpool(live.poll)
            for change in batch.changes:
                yield {"event": "alert", "id": str(change.event_id), "data": json.dumps(asdict(change), default=str)}
            if batch.ended:
                yield {"event": "end", "id": str(batch.cursor), "data": json.dumps({"reason": batch.ended})}
                return
            await asyncio.sleep(poll)

    return EventSourceResponse(events(), ping=15)


@router.get("/slow-acknowledgements")
def slow_acknowledgements(
    request: Request,
    start: date | None = Query(None, description="First day raised, YYYY-MM-DD (UTC, included)"),
    end: date | None = Query(None, description="The day after the last day raised (not included)"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
    who: Principal = Depends(require(*CENTRE)),
    session: Session = Depends(registry, scope="function"),
) -> SlowPage:
    """Alerts acknowledged more than 3 minutes after they were raised, oldest first, a page at a
    time. Each alert listed is logged as read."""
    try:
        since, until = cuts(start, end)
    except ReportInputError as err:
        raise HTTPException(422, str(err)) from err
    page = service.slow_acknowledgements(_engine(request), since, until, limit=limit, offset=offset)
    asked = f"raised from {start or 'the first'} to {end or 'the last'}"
    for item in page.items:
        access.log_access(session, who, "list slow acknowledgements", home_id=item.home_id, alert_id=item.alert_id,
                          detail=asked, now=deps.now(request))
    if not page.items:  # nothing listed, but the asking is on the record
        access.log_access(session, who, "list slow acknowledgements", detail=asked, now=deps.now(request))
    return page


@router.get("/{alert_id}")
def get_alert(request: Request, alert_id: RowId, who: Principal = Depends(require(*PEOPLE_READERS)),
              session: Session = Depends(registry, scope="function")) -> AlertView:
    """One alert with its audit trail (every change, note and notification attempt)."""
    # Family members get what happened, not what staff wrote (notes may hold a key-safe code).
    return _logged(request, session, who, "read alert", alert_id, service.get_alert, _engine(request), alert_id,
                   access.visible_home_ids(session, who), staff=who.role in access.ALL_HOMES)


@router.post("/{alert_id}/acknowledge", responses=errors(400, 409))
def acknowledge(request: Request, alert_id: RowId, body: Acknowledge,
                who: Principal = Depends(require(*PEOPLE_READERS)), session: Session = Depends(registry, scope="function")) -> AlertView:
    """Someone is dealing with it: stops the escalation. Family members may acknowledge their relative's."""
    return _logged(request, session, who, "acknowledge alert", alert_id, service.acknowledge, _engine(request),
                   alert_id, _actor(who), body.note, visible=access.visible_home_ids(session, who))


@router.post("/{alert_id}/resolve", responses=errors(400, 409))
def resolve(request: Request, alert_id: RowId, body: Resolve, who: Principal = Depends(require(*STAFF)),
            session: Session = Depends(registry, scope="function")) -> AlertView:
    """Close an alert with its outcome (e.g. false_alarm, responder_attended, admission_avoided)."""
    return _logged(request, session, who, "resolve alert", alert_id, service.resolve, _engine(request), alert_id,
                   _actor(who), body.outcome, body.note, visible=access.visible_home_ids(session, who))


@router.post("/{alert_id}/notes", responses=errors(400, 409))
def add_note(request: Request, alert_id: RowId, body: Note, who: Principal = Depends(require(*STAFF)),
             session: Session = Depends(registry, scope="function")) -> AlertView:
    """Add a note to the alert's trail."""
    return _logged(request, session, who, "add note to alert", alert_id, service.note, _engine(request), alert_id,
                   _actor(who), body.text, visible=access.visible_home_ids(session, who))


class LinkToken(BaseModel):
    token: str = Field(min_length=1, max_length=500)


@router.post("/{alert_id}/acknowledge-by-link", responses=errors(409))
def acknowledge_by_link(request: Request, alert_id: RowId, body: LinkToken) -> AlertView:
    """Acknowledge as the responder the signed link was sent to; no account needed. The token is
    sent in the body, where no access log records it. (The link in a notification opens the page
    at /ack/{alert_id}, which does this from a button.)"""
    alerts, at = request.app.state.settings.alerts, deps.now(request)
    valid_for = timedelta(hours=alerts.ack_link_hours)
    responder = _call(service.check_link, _engine(request), alert_id, body.token, alerts.ack_link_key, at, valid_for)
    out = _call(service.acknowledge_by_link, _engine(request), alert_id, body.token, alerts.ack_link_key, at,
                valid_for)
    with Session(_engine(request)) as session, session.begin():
        access.log_link_use(session, responder, "acknowledge alert by link", out.home_id, alert_id, at)
    return out
