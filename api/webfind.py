"""Finding things in the console: recently resolved alerts, the list of homes, and a search by
resident name, home, postcode or alert number. Each page is access-logged (they name people and
addresses)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from tecwatch.alerts import finder
from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import STAFF
from tecwatch.api.web import _render, page_user

router = APIRouter(include_in_schema=False)
PAGE = 100


@router.get("/console/resolved", response_class=HTMLResponse)
def resolved(request: Request, who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    with Session(request.app.state.registry) as s, s.begin():
        alerts = finder.recently_closed(s, limit=PAGE)
        access.log_access(s, who, "page resolved alerts", detail=f"{len(alerts)} alerts", now=deps.now(request))
    return _render(request, "resolved.html", who, alerts=alerts)


@router.get("/console/homes", response_class=HTMLResponse)
def homes(request: Request, page: int = Query(1, ge=1, le=100_000),
          who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    with Session(request.app.state.registry) as s, s.begin():
        items, total = finder.list_homes(s, limit=PAGE, offset=(page - 1) * PAGE)
        access.log_access(s, who, "page homes", detail=f"page {page}, {len(items)} homes", now=deps.now(request))
    return _render(request, "homes.html", who, homes=items, total=total, page=page, pages=max(1, -(-total // PAGE)))


@router.get("/console/search", response_class=HTMLResponse)
def search(request: Request, q: str = Query("", max_length=100, pattern=r"^[^\x00]*$"),
           who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    with Session(request.app.state.registry) as s, s.begin():
        found = finder.search(s, q)
        if found.query:
            access.log_access(s, who, "page search", detail=f"{found.query}: {len(found.alerts)} alerts, "
                              f"{len(found.homes)} homes", now=deps.now(request))
    return _render(request, "search.html", who, found=found)
