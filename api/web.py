"""Web pages (server-rendered): sign-in, the monitoring-centre console, and the family view.

Pages call the same services as the API. Signing in sets the token as an HttpOnly, SameSite=Strict
cookie (Secure over HTTPS, and always in production), so scripts cannot read the token; every form
post must also come from our own origin (api/security.py), since SameSite treats other ports and
subdomains of the same site as the same site.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from tecwatch.alerts import callscreen, service
from tecwatch.alerts.acklink import BadLink
from tecwatch.alerts.lifecycle import RULE_TITLES, TransitionError
from tecwatch.api import access, accounts, deps
from tecwatch.registry import familyview, homeview
from tecwatch.api.access import AuthError, Principal
from tecwatch.api.deps import STAFF, RowId, client_address
from tecwatch.api.security import COOKIE
from tecwatch.api.signin import SignInRefused
from tecwatch.api.charts import bar_chart
from tecwatch.registry.models import Outcome, UserRole

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
START_PAGE = {UserRole.OPERATOR: "/console", UserRole.RESPONDER: "/responder", UserRole.ADMIN: "/console",
              UserRole.FAMILY: "/family", UserRole.COMMISSIONER: "/reports", UserRole.COORDINATOR: "/enrol"}

router = APIRouter(include_in_schema=False)


class NeedsSignIn(Exception):
    """No valid session: the page sends the browser to sign in (see ``install``)."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class NotAllowed(Exception):
    pass


def install(app) -> None:
    """Add the pages and the handlers that turn missing sessions into the sign-in page."""
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    # These import this module: included here, after it is complete.
    from tecwatch.api import (
        webaccessinfo, webaccount, webaudit, webcallquality, webcalls, webenrol, webfind, webinstall, webreports, webwizard,
    )
    TEMPLATES.env.filters["local"] = webcalls.local_time  # times in the centre's own time zone
    app.include_router(webcalls.router)  # before ours: /console/alerts/{id}/calls is not an action
    app.include_router(webfind.router)
    app.include_router(router)
    app.include_router(webreports.router)
    app.include_router(webcallquality.router)
    app.include_router(webaccount.router)
    app.include_router(webaudit.router)
    app.include_router(webaccessinfo.router)
    app.include_router(webwizard.router)  # before webenrol: /enrol/new is not a resident
    app.include_router(webenrol.router)
    app.include_router(webinstall.router)
    from tecwatch.api import webfamily, webresponder
    app.include_router(webresponder.router)
    app.include_router(webfamily.router)

    @app.exception_handler(NeedsSignIn)
    async def _sign_in(request: Request, exc: NeedsSignIn) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return TEMPLATES.TemplateResponse(request, "message.html", {"title": "Not available", "who": None,
                                          "message": "Your account cannot see this page."}, status_code=403)


def _engine(request: Request):
    return request.app.state.registry


def page_user(*roles: UserRole):
    allowed = frozenset(roles)

    def check(request: Request) -> Principal:
        token = request.cookies.get(COOKIE)
        if not token:
            raise NeedsSignIn(request.url.path)
        try:
            with Session(_engine(request)) as s:
                who = access.principal_from_token(s, token, request.app.state.settings.api.token_secret.get_secret_value(),
                                                  request.app.state.clock())
        except AuthError:
            raise NeedsSignIn(request.url.path) from None
        if who.role not in allowed:
            deps.log_refusal(request, who, f"a {who.role.value} account cannot see this page")
            raise NotAllowed()
        return who

    return check


def _render(request: Request, name: str, who: Principal | None, status_code: int = 200, **context) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"who": who, **context}, status_code=status_code)


# -- signing in ------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def index() -> Response:
    return RedirectResponse("/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> HTMLResponse:
    return _render(request, "login.html", None, next=next if next.startswith("/") else "", error="")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: str = Form(max_length=100), password: str = Form(max_length=200),
          next: str = Form("", max_length=500)) -> Response:
    service = request.app.state.signin
    try:
        who = service.sign_in(username, password, client_address(request))
    except SignInRefused as err:
        response = _render(request, "login.html", None, status_code=err.status, next=next,
                           error=str(err).capitalize() + ".")
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    except AuthError as err:
        return _render(request, "login.html", None, status_code=401, next=next, error=str(err).capitalize() + ".")
    # Only a local path: never send someone off-site after signing in.
    target = next if next.startswith("/") and not next.startswith("//") else START_PAGE[who.role]
    return with_session(request, RedirectResponse(target, status_code=303), who)


def secure_cookies(request: Request) -> bool:
    """Always in production (behind TLS); otherwise when the request came over HTTPS."""
    return request.app.state.settings.production or request.url.scheme == "https"


def with_session(request: Request, response: Response, who: Principal) -> Response:
    token, ttl = request.app.state.signin.token(who)
    response.set_cookie(COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="strict",
                        secure=secure_cookies(request))
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Signing out revokes the token, not only the cookie: a copy of it no longer works either."""
    token = request.cookies.get(COOKIE)
    if token:
        try:
            with Session(_engine(request)) as s, s.begin():
                who = access.principal_from_token(s, token, request.app.state.settings.api.token_secret.get_secret_value(),
                                                  request.app.state.clock())
                accounts.sign_out(s, who)
        except AuthError:
            pass  # already no good
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure_cookies(request))
    return response


# -- monitoring centre -----------------------------------------------------------------------

def _queue(request: Request) -> list:
    return service.list_alerts(_engine(request), limit=200).items


@router.get("/console", response_class=HTMLResponse)
def console(request: Request, who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    with Session(_engine(request)) as s, s.begin():
        access.log_access(s, who, "page console", now=deps.now(request))
    alerts = _queue(request)
    return _render(request, "console.html", who, alerts=alerts, titles=RULE_TITLES, now=deps.now(request),
                   addresses=_addresses(request, alerts))


@router.get("/console/queue", response_class=HTMLResponse)
def console_queue(request: Request, who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    """The queue table alone: the console swaps it in when the live stream says something changed."""
    alerts = _queue(request)
    with Session(_engine(request)) as s, s.begin():
        access.log_access(s, who, "page console queue", detail=f"{len(alerts)} open alerts", now=deps.now(request))
    return _render(request, "queue.html", who, alerts=alerts, titles=RULE_TITLES, now=deps.now(request),
                   addresses=_addresses(request, alerts))


def _addresses(request: Request, alerts: list) -> dict[str, str]:
    with Session(_engine(request)) as s:
        return callscreen.addresses(s, {a.home_id for a in alerts})


@router.post("/console/alerts/{alert_id}/{action}", response_class=HTMLResponse)
def alert_action(request: Request, alert_id: RowId, action: str, note: str = Form("", max_length=2000),
                 outcome: str = Form("", max_length=40), who: Principal = Depends(page_user(*STAFF))) -> Response:
    actor = f"{who.username} ({who.role.value})"
    try:
        if action == "acknowledge":
            done = service.acknowledge(_engine(request), alert_id, actor, note, at=deps.now(request))
        elif action == "resolve":
            if outcome not in {o.value for o in Outcome}:
                raise TransitionError("choose an outcome to resolve the alert")
            done = service.resolve(_engine(request), alert_id, actor, Outcome(outcome), note, at=deps.now(request))
        elif action == "note" and note.strip():
            done = service.note(_engine(request), alert_id, actor, note.strip(), at=deps.now(request))
        else:
            raise TransitionError(f"nothing to do for {action!r}")
    except service.AlertNotFound:
        deps.log_denied(request, who, f"page {action[:20]} alert", alert_id=alert_id, detail="no such alert")
        return _render(request, "message.html", who, 404, title="No such alert", message=f"There is no alert {alert_id}.")
    except TransitionError as err:
        return _render(request, "message.html", who, 409, title="Not done", message=str(err).capitalize() + ".",
                       back=f"/console/alerts/{alert_id}")
    with Session(_engine(request)) as s, s.begin():
        access.log_access(s, who, f"page {action} alert", home_id=done.home_id, alert_id=alert_id,
                          now=deps.now(request))
    return RedirectResponse(f"/console/alerts/{alert_id}?done={action}", status_code=303)


@router.get("/console/homes/{home_id}", response_class=HTMLResponse)
def home_page(request: Request, home_id: str, days: int = 1, who: Principal = Depends(page_user(*STAFF))) -> HTMLResponse:
    days = 7 if days == 7 else 1
    try:
        with Session(_engine(request)) as s, s.begin():
            detail = homeview.home_detail(s, request.app.state.store, home_id, request.app.state.settings.alerts)
            access.log_access(s, who, "page home", home_id=home_id, now=deps.now(request))
            history = callscreen.home_alerts(s, home_id, limit=100)
    except homeview.HomeNotFound:
        deps.log_denied(request, who, "page home", home_id=home_id, detail="no such home")
        return _render(request, "message.html", who, 404, title="No such home", message=f"There is no home {home_id}.")
    hours = homeview.activity_by_hour(request.app.state.store, home_id, days)
    zone = ZoneInfo(request.app.state.settings.console.timezone)  # the centre's hours, not UTC
    chart = bar_chart([(h.hour.astimezone(zone).strftime("%a %H:00" if days == 7 else "%H:00"), h.count) for h in hours],
                      f"Activity per hour, last {'7 days' if days == 7 else '24 hours'}", label_every=24 if days == 7 else 3)
    return _render(request, "home.html", who, home=detail, chart=chart, days=days, history=history)


# -- acknowledge links in notifications -----------------------------------------------------

@router.get("/ack/{alert_id}", response_class=HTMLResponse)
def ack_link_page(request: Request, alert_id: RowId, token: str = Query("", max_length=500)) -> HTMLResponse:
    """Where a notification's link lands. A GET changes nothing (mail scanners follow links):
    it shows the alert and a button."""
    alerts = request.app.state.settings.alerts
    try:
        responder = service.check_link(_engine(request), alert_id, token, alerts.ack_link_key,
                                       request.app.state.clock(), timedelta(hours=alerts.ack_link_hours))
        alert = service.get_alert(_engine(request), alert_id, staff=False)
    except (BadLink, service.AlertNotFound) as err:
        return _bad_link(request, err)
    with Session(_engine(request)) as s, s.begin():
        access.log_link_use(s, responder, "page acknowledge link", alert.home_id, alert_id, request.app.state.clock())
    return _render(request, "ack.html", None, alert=alert, token=token, titles=RULE_TITLES)


@router.post("/ack/{alert_id}", response_class=HTMLResponse)
def ack_link(request: Request, alert_id: RowId, token: str = Form("", max_length=500)) -> HTMLResponse:
    alerts = request.app.state.settings.alerts
    try:
        alert = service.acknowledge_by_link(_engine(request), alert_id, token, alerts.ack_link_key,
                                            request.app.state.clock(), timedelta(hours=alerts.ack_link_hours))
    except (BadLink, service.AlertNotFound) as err:
        return _bad_link(request, err)
    except TransitionError:
        return ack_link_page(request, alert_id, token)  # someone was first: say who
    return _render(request, "message.html", None, title="Thank you",
                   message=f"Alert {alert.id} is acknowledged: everyone can see that you are dealing with it.")


def _bad_link(request: Request, err: Exception) -> HTMLResponse:
    return _render(request, "message.html", None, 403, title="This link does not work",
                   message=f"{str(err).capitalize()}. Call the monitoring centre if you need to.")


# -- families --------------------------------------------------------------------------------

@router.get("/family", response_class=HTMLResponse)
def family_index(request: Request, who: Principal = Depends(page_user(UserRole.FAMILY))) -> Response:
    with Session(_engine(request)) as s, s.begin():
        page = familyview.list_residents(s, access.visible_resident_ids(s, who))
        access.log_access(s, who, "page family", now=deps.now(request))
    if len(page.items) == 1:
        return RedirectResponse(f"/family/{page.items[0].id}", status_code=303)
    return _render(request, "family_list.html", who, residents=page.items)


@router.get("/family/{resident_id}", response_class=HTMLResponse)
def family_status(request: Request, resident_id: RowId, done: str = "",
                  who: Principal = Depends(page_user(UserRole.FAMILY))) -> HTMLResponse:
    try:
        with Session(_engine(request)) as s, s.begin():
            home_id = familyview.resident_home(s, resident_id, access.visible_resident_ids(s, who))
            st = familyview.status(s, request.app.state.store, resident_id, request.app.state.settings.alerts,
                                   deps.now(request))
            access.log_access(s, who, "page resident status", home_id=home_id, resident_id=resident_id,
                              now=deps.now(request))
    except familyview.ResidentNotFound as err:
        # Someone else's relative (or nobody): asked for and refused, never a read of them.
        deps.log_denied(request, who, "page resident status", resident_id=resident_id, detail=str(err))
        return _render(request, "message.html", who, 404, title="Not found", message="There is nobody to show here.")
    from tecwatch.api import webfamily  # the week by kind, live updates, acknowledging
    return webfamily.page(request, who, st, done)
