"""Alert endpoints: the monitoring centre's queue, one alert with its trail, acknowledge,
resolve, notes, live updates, and acknowledging by a notification's signed link."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from tecwatch.alerts import service
from tecwatch.alerts.acklink import BadLink
from tecwatch.alerts.lifecycle import TransitionError
from tecwatch.alerts.service import AlertPage, AlertView
from tecwatch.api import access
from tecwatch.api.access import Principal
from tecwatch.api.deps import PEOPLE_READERS, STAFF, RowId, errors, registry, require
from tecwatch.registry.models import Outcome

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=errors(401, 403, 404, 422))


class Acknowledge(BaseModel):
    note: str = Field("", max_length=2000)


class Resolve(Acknowledge):
    outcome: Outcome


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


def _engine(request: Request):
    return request.app.state.registry


def _call(fn, *args, **kwargs) -> AlertView:
    try:
        return fn(*args, **kwargs)
    except service.AlertNotFound as err:
        raise HTTPException(404, str(err)) from err
    except TransitionError as err:
        raise HTTPException(409, str(err)) from err
    except BadLink as err:
        raise HTTPException(403, str(err)) from err


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
    access.log_access(session, who, "list alerts", home_id=home_id)
    page = service.list_alerts(_engine(request), open_only=open_only, home_id=home_id, visible=visible,
                               limit=limit, offset=offset, staff=who.role in access.ALL_HOMES)
    return page


@router.get("/stream")
async def stream(
    request: Request,
    who: Principal = Depends(require(*PEOPLE_READERS)),
    last_event_id: int | None = Header(None, alias="Last-Event-ID", ge=0, le=2**63 - 1),
) -> EventSourceResponse:
    """Server-sent events: one `alert` event for every change to an alert the caller may see."""
    engine, poll = _engine(request), request.app.state.settings.api.stream_poll_s
    with Session(engine) as session:
        visible = access.visible_home_ids(session, who)
    cursor = last_event_id if last_event_id is not None else await run_in_threadpool(service.latest_change, engine)

    async def events():
        nonlocal cursor
        yield {"event": "ready", "id": str(cursor), "data": "{}"}
        while not await request.is_disconnected():
            for change in await run_in_threadpool(service.changes_since, engine, cursor, visible):
                cursor = change.event_id
                yield {"event": "alert", "id": str(cursor), "data": json.dumps(asdict(change), default=str)}
            await asyncio.sleep(poll)

    return EventSourceResponse(events(), ping=15)


@router.get("/{alert_id}")
def get_alert(request: Request, alert_id: RowId, who: Principal = Depends(require(*PEOPLE_READERS)),
              session: Session = Depends(registry, scope="function")) -> AlertView:
    """One alert with its audit trail (every change, note and notification attempt)."""
    # Family members get what happened, not what staff wrote (notes may hold a key-safe code).
    out = _call(service.get_alert, _engine(request), alert_id, access.visible_home_ids(session, who),
                staff=who.role in access.ALL_HOMES)
    access.log_access(session, who, "read alert", home_id=out.home_id, alert_id=alert_id)
    return out


@router.post("/{alert_id}/acknowledge", responses=errors(400, 409))
def acknowledge(request: Request, alert_id: RowId, body: Acknowledge,
                who: Principal = Depends(require(*PEOPLE_READERS)), session: Session = Depends(registry, scope="function")) -> AlertView:
    """Someone is dealing with it: stops the escalation. Family members may acknowledge their relative's."""
    return _call(service.acknowledge, _engine(request), alert_id, _actor(who), body.note,
                 visible=access.visible_home_ids(session, who))


@router.post("/{alert_id}/resolve", responses=errors(400, 409))
def resolve(request: Request, alert_id: RowId, body: Resolve, who: Principal = Depends(require(*STAFF)),
            session: Session = Depends(registry, scope="function")) -> AlertView:
    """Close an alert with its outcome (e.g. false_alarm, responder_attended, admission_avoided)."""
    return _call(service.resolve, _engine(request), alert_id, _actor(who), body.outcome, body.note,
                 visible=access.visible_home_ids(session, who))


@router.post("/{alert_id}/notes", responses=errors(400, 409))
def add_note(request: Request, alert_id: RowId, body: Note, who: Principal = Depends(require(*STAFF)),
             session: Session = Depends(registry, scope="function")) -> AlertView:
    """Add a note to the alert's trail."""
    return _call(service.note, _engine(request), alert_id, _actor(who), body.text,
                 visible=access.visible_home_ids(session, who))


class LinkToken(BaseModel):
    token: str = Field(min_length=1, max_length=500)


@router.post("/{alert_id}/acknowledge-by-link", responses=errors(409))
def acknowledge_by_link(request: Request, alert_id: RowId, body: LinkToken) -> AlertView:
    """Acknowledge as the responder the signed link was sent to; no account needed. The token is
    sent in the body, where no access log records it. (The link in a notification opens the page
    at /ack/{alert_id}, which does this from a button.)"""
    alerts = request.app.state.settings.alerts
    return _call(service.acknowledge_by_link, _engine(request), alert_id, body.token, alerts.ack_link_key,
                 request.app.state.clock(), timedelta(hours=alerts.ack_link_hours))
