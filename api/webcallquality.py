"""The call quality page, for admins (supervisors): each call handler's handled calls in a month,
auditing one with a short structured review, and audits per handler against the standard. The
same service as the API (api/callquality.py); every list and audit is access-logged."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import RULE_TITLES
from tecwatch.api import access, callquality, deps
from tecwatch.api.access import Principal
from tecwatch.api.callquality import AuditIn, CallQualityError
from tecwatch.api.labels import outcome_name, words
from tecwatch.api.web import TEMPLATES, page_user
from tecwatch.registry.models import UserRole

router = APIRouter(include_in_schema=False)
SCORES = {5: "5: excellent", 4: "4: good", 3: "3: acceptable", 2: "2: needs work", 1: "1: poor"}
Supervisor = Depends(page_user(UserRole.ADMIN))


def _month(request: Request, month: str) -> str:
    try:
        callquality.month_range(month)
        return month
    except CallQualityError:
        return callquality.this_month(request.app.state.clock().date())


@router.get("/console/call-quality", response_class=HTMLResponse)
def call_quality_page(request: Request, month: str = Query("", max_length=7), handler: str = Query("", max_length=100),
                      done: str = Query("", max_length=100), who: Principal = Supervisor) -> HTMLResponse:
    month = _month(request, month)
    with Session(request.app.state.registry) as s, s.begin():
        summary = callquality.month_summary(s, month)
        calls = callquality.handled_calls(s, month, handler or None)
        access.log_access(s, who, "page call quality", detail=f"{month} {handler}".strip(), now=deps.now(request))
        for call in calls:
            access.log_access(s, who, "page call quality call", home_id=call.home_id, alert_id=call.alert_id,
                              detail=call.handler, now=deps.now(request))
    return TEMPLATES.TemplateResponse(request, "callquality.html", {
        "who": who, "month": month, "handler": handler, "summary": summary, "calls": calls, "titles": RULE_TITLES,
        "outcome_name": outcome_name, "words": words, "done": done,
        "audit_link": lambda c: "/console/call-quality/audit?" + urlencode(
            {"alert_id": c.alert_id, "handler": c.handler, "month": month})})


def _call(session: Session, alert_id: int, handler: str, month: str):
    return next((c for c in callquality.handled_calls(session, month, handler) if c.alert_id == alert_id), None)


def _audit_form(request: Request, who: Principal, alert_id: int, handler: str, month: str, error: str = "",
                status_code: int = 200, form: dict | None = None) -> Response:
    with Session(request.app.state.registry) as s, s.begin():
        call = _call(s, alert_id, handler, month)
        if call is None:
            access.log_denied(s, who, "page call audit", alert_id=alert_id, detail=f"{handler} did not handle it in {month}",
                              now=deps.now(request))
        else:
            access.log_access(s, who, "page call audit", home_id=call.home_id, alert_id=alert_id, detail=handler,
                              now=deps.now(request))
    if call is None:
        return TEMPLATES.TemplateResponse(request, "message.html", {
            "who": who, "title": "No such call", "back": f"/console/call-quality?month={month}",
            "message": f"{handler} handled no alert {alert_id} raised in {month}."}, status_code=404)
    return TEMPLATES.TemplateResponse(request, "callaudit.html", {
        "who": who, "call": call, "month": month, "scores": SCORES, "titles": RULE_TITLES, "error": error,
        "outcome_name": outcome_name, "words": words, "form": form or {}}, status_code=status_code)


@router.get("/console/call-quality/audit", response_class=HTMLResponse)
def audit_page(request: Request, alert_id: int = Query(ge=1, le=2**31 - 1), handler: str = Query(max_length=100),
               month: str = Query("", max_length=7), who: Principal = Supervisor) -> Response:
    return _audit_form(request, who, alert_id, handler, _month(request, month))


@router.post("/console/call-quality/audit", response_class=HTMLResponse)
def save_audit(request: Request, alert_id: int = Form(ge=1, le=2**31 - 1), handler: str = Form(max_length=100),
               month: str = Form("", max_length=7), greeting_identity: bool = Form(False),
               correct_action: bool = Form(False), trail_complete: bool = Form(False), score: str = Form("", max_length=2),
               note: str = Form("", max_length=2000), who: Principal = Supervisor) -> Response:
    month = _month(request, month)
    form = {"greeting_identity": greeting_identity, "correct_action": correct_action, "trail_complete": trail_complete,
            "score": score, "note": note}
    if score not in {str(k) for k in SCORES}:
        return _audit_form(request, who, alert_id, handler, month, "Choose a score from 1 to 5.", 422, form)
    body = AuditIn(alert_id=alert_id, handler=handler, greeting_identity=greeting_identity,
                   correct_action=correct_action, trail_complete=trail_complete, score=int(score), note=note)
    try:
        with Session(request.app.state.registry) as s, s.begin():
            callquality.record_audit(s, who.username, body, deps.now(request))
            access.log_access(s, who, "page audit call", alert_id=alert_id, detail=handler, now=deps.now(request))
    except CallQualityError as err:
        return _audit_form(request, who, alert_id, handler, month, str(err).capitalize() + ".", err.status, form)
    query = urlencode({"month": month, "done": f"Audit of {handler}'s call on alert {alert_id} saved."})
    return RedirectResponse(f"/console/call-quality?{query}", status_code=303)
