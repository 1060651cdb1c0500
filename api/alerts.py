"""Alert endpoints: the monitoring centre's queue, and acknowledging and resolving by API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from html import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from tecwatch.alerts import service
from tecwatch.alerts.acklink import BadLink
from tecwatch.alerts.lifecycle import TransitionError
from tecwatch.registry.models import Outcome

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


class Acknowledge(BaseModel):
    actor: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


class Resolve(Acknowledge):
    outcome: Outcome


def _engine(request: Request):
    return request.app.state.registry


def _call(fn, *args, **kwargs) -> dict[str, Any]:
    try:
        return asdict(fn(*args, **kwargs))
    except service.AlertNotFound as err:
        raise HTTPException(404, str(err)) from err
    except TransitionError as err:
        raise HTTPException(409, str(err)) from err
    except BadLink as err:
        raise HTTPException(403, str(err)) from err


@router.get("")
def list_alerts(request: Request, open_only: bool = True, home_id: str | None = None, limit: int = 200) -> list[dict]:
    return [asdict(a) for a in service.list_alerts(_engine(request), open_only=open_only, home_id=home_id,
                                                   limit=min(max(limit, 1), 1000))]


@router.get("/{alert_id}")
def get_alert(request: Request, alert_id: int) -> dict[str, Any]:
    return _call(service.get_alert, _engine(request), alert_id)


@router.post("/{alert_id}/acknowledge")
def acknowledge(request: Request, alert_id: int, body: Acknowledge) -> dict[str, Any]:
    return _call(service.acknowledge, _engine(request), alert_id, body.actor, body.note)


@router.get("/{alert_id}/acknowledge-by-link", response_class=HTMLResponse)
def acknowledge_link_page(alert_id: int, token: str) -> str:
    # A GET must not change anything (mail scanners follow links): show a button that POSTs.
    return (f"<!doctype html><title>Acknowledge alert {alert_id}</title>"
            f"<form method=post action='/api/alerts/{alert_id}/acknowledge-by-link?token={escape(token, quote=True)}'>"
            f"<p>Acknowledge alert {alert_id}? This tells everyone you are dealing with it.</p>"
            "<button type=submit>Acknowledge</button></form>")


@router.post("/{alert_id}/acknowledge-by-link")
def acknowledge_by_link(request: Request, alert_id: int, token: str) -> dict[str, Any]:
    secret = request.app.state.settings.alerts.webhook_secret.get_secret_value().encode()
    return _call(service.acknowledge_by_link, _engine(request), alert_id, token, secret)


@router.post("/{alert_id}/resolve")
def resolve(request: Request, alert_id: int, body: Resolve) -> dict[str, Any]:
    return _call(service.resolve, _engine(request), alert_id, body.actor, body.outcome, body.note)
