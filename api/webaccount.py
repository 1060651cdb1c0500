"""Account pages: anyone signed in changes their own password; an admin adds, disables and
enables accounts, resets passwords, makes and revokes API keys, and links accounts to people by
choosing names (a family member's or responder's record, the residents who share with a family
member). The same services as the API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

import re

from tecwatch.api import access, accountlinks, accounts, deps, passwords
from tecwatch.api.access import AuthError, Principal, UserError
from tecwatch.api.accounts import NoSuchAccount
from tecwatch.api.deps import RowId, client_address
from tecwatch.api.signin import SignInRefused
from tecwatch.api.users import USERNAME
from tecwatch.api.web import TEMPLATES, page_user, with_session
from tecwatch.registry.changes import RegistryError
from tecwatch.registry.models import ConsentScope, UserRole

router = APIRouter(include_in_schema=False)
EVERYONE = tuple(UserRole)
DONE = {"disable": "Account disabled: its sessions and API keys stopped at once.", "enable": "Account enabled.",
        "password": "Password reset: every session of the account has ended.", "revoke": "API key revoked.",
        "added": "Account added.", "linked": "Link saved.", "shared": "Consent recorded: the account can see them."}
ROLE_WORDS = {UserRole.OPERATOR: "Operator (monitoring centre)", UserRole.RESPONDER: "Responder (visits homes)",
              UserRole.FAMILY: "Family member or neighbour", UserRole.COORDINATOR: "Coordinator (TEC team)",
              UserRole.COMMISSIONER: "Commissioner (reports only)", UserRole.ADMIN: "Administrator"}


def _render(request: Request, name: str, who: Principal, status_code: int = 200, **context) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"who": who, **context}, status_code=status_code)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, who: Principal = Depends(page_user(*EVERYONE))) -> HTMLResponse:
    return _render(request, "account.html", who, error="", done=False, min_length=passwords.MIN_PASSWORD)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, current: str = Form(max_length=passwords.MAX_PASSWORD),
                    new: str = Form(max_length=passwords.MAX_PASSWORD), again: str = Form(max_length=passwords.MAX_PASSWORD),
                    who: Principal = Depends(page_user(*EVERYONE))) -> Response:
    def problem(message: str, status: int) -> HTMLResponse:
        return _render(request, "account.html", who, status, error=message, done=False, min_length=passwords.MIN_PASSWORD)

    if new != again:
        return problem("The new passwords differ.", 422)
    try:
        fresh = request.app.state.signin.change_password(who, current, new, client_address(request))
    except SignInRefused as err:
        return problem(str(err).capitalize() + ".", err.status)
    except AuthError as err:
        return problem(str(err).capitalize() + ".", 401)
    except UserError as err:
        return problem(str(err).capitalize() + ".", 422)
    # Every session ended with the change; this one goes on with a new token.
    page = _render(request, "account.html", who, error="", done=True, min_length=passwords.MIN_PASSWORD)
    return with_session(request, page, fresh)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, done: str = "", who: Principal = Depends(page_user(UserRole.ADMIN))) -> HTMLResponse:
    return _users(request, who, DONE.get(done, ""), "")


def _users(request: Request, who: Principal, done: str, error: str, status_code: int = 200, *,
           new_key: str = "", form: dict | None = None) -> HTMLResponse:
    with Session(request.app.state.registry) as s, s.begin():
        users, _total = accounts.list_accounts(s, limit=1000)
        keys = accounts.list_api_keys(s)
        links = accountlinks.links(s)
        responders = accountlinks.responder_choices(s)
        # Names of people (responders, and the residents each family member sees) are shown.
        access.log_access(s, who, "page accounts", now=deps.now(request))
    page = _render(request, "users.html", who, status_code, users=users, keys=keys, done=done, error=error,
                   min_length=passwords.MIN_PASSWORD, links=links, responders=responders, roles=ROLE_WORDS,
                   new_key=new_key, form=form or {})
    page.headers["Cache-Control"] = "no-store"  # a new API key is shown once
    return page


def _admin_action(request: Request, who: Principal, action: str, fn, *args) -> Response:
    try:
        with Session(request.app.state.registry) as s, s.begin():
            fn(s, *args)
    except (NoSuchAccount, UserError) as err:
        return _users(request, who, "", str(err).capitalize() + ".", 404 if isinstance(err, NoSuchAccount) else 422)
    return RedirectResponse(f"/admin/users?done={action}", status_code=303)


@router.post("/admin/users/{username}/disable")
def disable(request: Request, username: str, who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    return _admin_action(request, who, "disable", accounts.set_active, username, False, who)


@router.post("/admin/users/{username}/enable")
def enable(request: Request, username: str, who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    return _admin_action(request, who, "enable", accounts.set_active, username, True)


@router.post("/admin/users/{username}/password")
def reset_password(request: Request, username: str, password: str = Form(max_length=passwords.MAX_PASSWORD),
                   who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    return _admin_action(request, who, "password", accounts.set_password, username, password)


@router.post("/admin/api-keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: RowId, who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    return _admin_action(request, who, "revoke", accounts.revoke_api_key, key_id)


def _responder_choice(value: str) -> int | str | None:
    if value == accountlinks.NEW_RECORD:
        return value
    return int(value) if value.isdigit() and len(value) < 10 else None


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, username: str = Form(max_length=100), display_name: str = Form("", max_length=200),
             role: str = Form(max_length=20), password: str = Form(max_length=passwords.MAX_PASSWORD),
             responder: str = Form("", max_length=12), who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    form = {"username": username, "display_name": display_name, "role": role, "responder": responder}
    choice = _responder_choice(responder)
    try:
        if not re.fullmatch(USERNAME, username) or len(username) < 3:
            raise UserError("a username is 3 or more letters, digits, dots, dashes, underscores or @")
        if role not in {r.value for r in UserRole}:
            raise UserError("choose a role")
        with Session(request.app.state.registry) as s, s.begin():
            if choice == accountlinks.NEW_RECORD:
                choice = accountlinks.new_family_record(s, f"{who.username} ({who.role.value})",
                                                        display_name or username, deps.now(request))
            access.create_user(s, username, password, UserRole(role), display_name=display_name,
                               responder_id=choice, now=deps.now(request))
    except (UserError, RegistryError) as err:
        return _users(request, who, "", str(err).capitalize() + ".", 409 if isinstance(err, access.UsernameTaken)
                      else 422, form=form)
    return RedirectResponse(f"/admin/users/{username}?done=added", status_code=303)


@router.post("/admin/api-keys", response_class=HTMLResponse)
def add_key(request: Request, username: str = Form(max_length=100), name: str = Form(max_length=100),
            who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    """The key is shown once, on the page this answers; only its hash is kept."""
    with Session(request.app.state.registry) as s, s.begin():
        user_id = access.user_id(s, username)
        key = access.create_api_key(s, user_id, name.strip(), deps.now(request)) if user_id and name.strip() else ""
    if not key:
        return _users(request, who, "", "Choose an account and give the key a name.", 422)
    return _users(request, who, "API key made. Copy it now: it is not shown again.", "", 201, new_key=key)


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: str, done: str = "",
              who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    return _user(request, who, username, DONE.get(done, ""), "")


def _user(request: Request, who: Principal, username: str, done: str, error: str, status_code: int = 200) -> Response:
    with Session(request.app.state.registry) as s, s.begin():
        try:
            account = accounts.get_account(s, username)
        except NoSuchAccount:
            return _users(request, who, "", f"There is no account {username!r}.", 404)
        context = {"account": account, "link": accountlinks.links(s)[username],
                   "responders": accountlinks.responder_choices(s), "residents": accountlinks.resident_choices(s),
                   "keys": accounts.list_api_keys(s, username), "scopes": list(ConsentScope)}
        access.log_access(s, who, "page account", detail=username, now=deps.now(request))
    return _render(request, "user.html", who, status_code, done=done, error=error, roles=ROLE_WORDS, **context)


@router.post("/admin/users/{username}/responder", response_class=HTMLResponse)
def link_responder(request: Request, username: str, responder: str = Form("", max_length=12),
                   who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    try:
        with Session(request.app.state.registry) as s, s.begin():
            choice = _responder_choice(responder)
            if choice == accountlinks.NEW_RECORD:
                choice = accountlinks.new_family_record(s, f"{who.username} ({who.role.value})", username,
                                                        deps.now(request))
            accountlinks.link_responder(s, username, choice)
    except NoSuchAccount as err:
        return _users(request, who, "", str(err).capitalize() + ".", 404)
    except (UserError, RegistryError) as err:
        return _user(request, who, username, "", str(err).capitalize() + ".", 422)
    return RedirectResponse(f"/admin/users/{username}?done=linked", status_code=303)


@router.post("/admin/users/{username}/residents", response_class=HTMLResponse)
def share_resident(request: Request, username: str, resident: str = Form("", max_length=12),
                   scope: list[str] = Form([], max_length=10),
                   who: Principal = Depends(page_user(UserRole.ADMIN))) -> Response:
    try:
        if not (resident.isdigit() and len(resident) < 10):
            raise UserError("choose a resident")
        with Session(request.app.state.registry) as s, s.begin():
            accountlinks.share_resident(s, f"{who.username} ({who.role.value})", username, int(resident), scope,
                                        now=deps.now(request))
    except NoSuchAccount as err:
        return _users(request, who, "", str(err).capitalize() + ".", 404)
    except (UserError, RegistryError) as err:
        return _user(request, who, username, "", str(err).capitalize() + ".", 422)
    return RedirectResponse(f"/admin/users/{username}?done=shared", status_code=303)
