"""The access log page, for admins: who read (or was refused) whose data, with the same filters
as the API (user, resident, home, dates, action, outcome), newest first, a page at a time. The
same service as the API and the command line; reading the log this way is logged too."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from tecwatch.api import accesslog
from tecwatch.api.access import Principal
from tecwatch.api.accesslog import FilterError
from tecwatch.api.web import TEMPLATES, page_user
from tecwatch.registry.models import UserRole

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/admin/access-log", response_class=HTMLResponse)
def access_log_page(request: Request, user: str = Query("", max_length=100), resident: str = Query("", max_length=12),
                    home: str = Query("", max_length=64), start: str = Query("", alias="from", max_length=40),
                    end: str = Query("", alias="to", max_length=40), action: str = Query("", max_length=80),
                    outcome: str = Query("", max_length=10), offset: int = Query(0, ge=0, le=2**31 - 1),
                    who: Principal = Depends(page_user(UserRole.ADMIN))) -> HTMLResponse:
    form = {"user": user, "resident": resident, "home": home, "from": start, "to": end, "action": action,
            "outcome": outcome}
    context = {"who": who, "form": form, "outcomes": accesslog.OUTCOMES, "page": None, "error": ""}
    try:
        f = accesslog.LogFilter.parse(user=user, resident=resident, home=home, start=start, end=end, action=action,
                                      outcome=outcome)
    except FilterError as err:
        context["error"] = str(err).capitalize() + "."
        return TEMPLATES.TemplateResponse(request, "access_log.html", context, status_code=422)
    with Session(request.app.state.registry) as s, s.begin():
        page = accesslog.read(s, f, PAGE_SIZE, offset, username=who.username, role=who.role, action="page access log",
                              now=request.app.state.clock())

    def link(at: int) -> str:
        return "/admin/access-log?" + urlencode({k: v for k, v in form.items() if v} | {"offset": at})

    context |= {"page": page,
                "newer": link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
                "older": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < page.total else None}
    return TEMPLATES.TemplateResponse(request, "access_log.html", context)
