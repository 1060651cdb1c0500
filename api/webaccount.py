"""Account pages: anyone signed in changes their own password; an admin disables and enables
accounts, resets passwords and revokes API keys. The same services as the API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tecwatch.api import accounts, passwords
from tecwatch.api.access import AuthError, Principal, UserError
from tecwatch.api.accounts import NoSuchAccount
from tecwatch.api.deps import RowId, client_address
from tecwatch.api.signin import SignInRefused
from tecwatch.api.web import TEMPLATES, page_user, with_session
from tecwatch.registry.models import UserRole

router = APIRouter(include_in_schema=False)
EVERYONE = tuple(UserRole)
DONE = {"disable": "Account disabled: its sessions and API keys stopped at once.", "enable": "Account enabled.",
        "password": "Password reset: every session of the account has ended.", "revoke": "API key revoked."}


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


def _users(request: Request, who: Principal, done: str, error: str, status_code: int = 200) -> HTMLResponse:
    with Session(request.app.state.registry) as s:
        users, _total = accounts.list_accounts(s, limit=1000)
        keys = accounts.list_api_keys(s)
    return _render(request, "users.html", who, status_code, users=users, keys=keys, done=done, error=error,
                   min_length=passwords.MIN_PASSWORD)


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
