"""The commissioners' web page: reach and outcomes on one page, with the same filters and CSV
downloads as the reports API, and the same small-number suppression (api/published.py).
Aggregates only: no names, addresses, dates of birth, homes or alerts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from tecwatch.api import access, published, publishedtimes, reach
from tecwatch.api.access import Principal
from tecwatch.api.charts import bar_chart
from tecwatch.api.labels import PRIORITY_NAMES, duration, outcome_name, words
from tecwatch.api.reporting import ReportInputError, checked
from tecwatch.api.responsetimes import PRIORITIES
from tecwatch.api.timings import P1_TARGET_S
from tecwatch.api.web import TEMPLATES, page_user
from tecwatch.registry.models import UserRole

router = APIRouter(include_in_schema=False)


def _date(text: str | None) -> date | None:
    """The day asked for, or None (the page's default) for one it cannot use."""
    try:
        return checked(date.fromisoformat(text)) if text else None
    except ValueError:  # not a date, or a day reports do not cover
        return None


def _priority(text: str | None) -> int | None:
    return int(text) if text in {str(p) for p in PRIORITIES} else None


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, start: str | None = None, end: str | None = None, district: str | None = None,
                 priority: str | None = None,
                 who: Principal = Depends(page_user(UserRole.COMMISSIONER, UserRole.ADMIN))) -> HTMLResponse:
    today = datetime.now(timezone.utc).date()
    end_day = _date(end) or today + timedelta(days=1)
    start_day = _date(start) or (end_day - timedelta(days=365)).replace(day=1)
    district = (district or "").strip()[:80] or None
    level = _priority(priority)
    error = ""
    if start_day >= end_day:
        error, start_day = "The start must be before the end; showing the year before the end instead.", \
            (end_day - timedelta(days=365)).replace(day=1)
    small = request.app.state.settings.api.small_number_threshold
    with Session(request.app.state.registry) as s, s.begin():
        try:
            now = published.reach_on(s, min(today, end_day - timedelta(days=1)), district, small)
            monthly = published.reach_by_month(s, start_day, end_day, district, small)
            per_1000 = published.reach_per_thousand(s, min(today, end_day - timedelta(days=1)), district, small)
            answer = publishedtimes.time_to_answer(s, start_day, end_day, district, level, small)
            attend = publishedtimes.time_to_attend(s, start_day, end_day, district, level, small)
            to_outcome = publishedtimes.alarm_to_outcome(s, start_day, end_day, district, level, small)
            outcome = published.outcome_distribution(s, start_day, end_day, district, small)
            retained = published.still_at_home(s, min(today, end_day - timedelta(days=1)), district, small)
            faults = published.device_fault_rates(s, start_day, end_day, district, small)
        except ReportInputError as err:
            error = str(err)
            now = monthly = per_1000 = answer = attend = to_outcome = outcome = retained = faults = None
        districts = sorted(reach.district_homes(s, today))
        access.log_access(s, who, "page reports")
    growth = bar_chart([(m.month, m.homes_active_at_end) for m in monthly or []], "Homes with assistive technology at each month end",
                       height=200, wide=True)
    answered = bar_chart([(m.month, _percent(m.share_within_60s)) for m in answer.by_month] if answer else [],
                         "Alerts answered within 60 seconds, by month", unit=" %", height=200, wide=True)
    query = {"start": start_day.isoformat(), "end": end_day.isoformat()} | ({"district": district} if district else {})
    timed = query | ({"priority": str(level)} if level else {})
    return TEMPLATES.TemplateResponse(request, "reports.html", {
        "who": who, "error": error, "start": start_day, "end": end_day, "district": district or "", "districts": districts,
        "now": now, "monthly": monthly, "per_1000": per_1000, "outcome": outcome, "retained": retained,
        "faults": faults, "growth": growth, "small": small, "csv": lambda path: f"/api/reports/{path}?{urlencode(query | {'format': 'csv'})}",
        "answer": answer, "attend": attend, "to_outcome": to_outcome, "answered": answered, "priority": level,
        "priorities": PRIORITY_NAMES, "target_s": P1_TARGET_S, "words": words, "outcome_name": outcome_name, "duration": duration,
        "timed_csv": lambda path: f"/api/reports/{path}?{urlencode(timed | {'format': 'csv'})}",
    })


def _percent(share: float | str | None) -> float | str:
    """A share as a percentage for a chart; a withheld one stays as it is; none is 0."""
    if isinstance(share, str):
        return share
    return round((share or 0) * 100, 1)
