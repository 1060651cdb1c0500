"""Accounts, for admins: add, list, disable and enable (a disabled account's tokens stop at
once), reset a password (every session ends), and API keys (made, listed, revoked)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from tecwatch.api import access, accountlinks, accounts, passwords
from tecwatch.api.access import Principal, UserError, UsernameTaken
from tecwatch.api.accounts import Account, KeyInfo, NoSuchAccount
from tecwatch.api.auth import Me
from tecwatch.api.deps import RowId, errors, registry, require
from tecwatch.registry.models import UserRole

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=errors(401, 403, 422))
USERNAME = r"^[A-Za-z0-9._@-]+$"
Username = Path(min_length=1, max_length=100, pattern=USERNAME)
admin_only = require(UserRole.ADMIN)


class NewUser(BaseModel):
    username: str = Field(min_length=3, max_length=100, pattern=USERNAME)
    password: str = Field(min_length=passwords.MIN_PASSWORD, max_length=passwords.MAX_PASSWORD)
    role: UserRole
    display_name: str = Field("", max_length=200)
    responder_id: int | None = None


class NewApiKey(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)


class PasswordReset(BaseModel):
    password: str = Field(min_length=passwords.MIN_PASSWORD, max_length=passwords.MAX_PASSWORD)


class AccountPage(BaseModel):
    items: list[Account]
    total: int
    limit: int
    offset: int


def _account_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NoSuchAccount as err:
        raise HTTPException(404, str(err)) from err
    except UserError as err:
        raise HTTPException(422, str(err)) from err


@router.post("/users", status_code=201, responses=errors(400, 409))
def add_user(body: NewUser, _admin: Principal = Depends(admin_only),
             session: Session = Depends(registry, scope="function")) -> Me:
    """Add an account (admins only). A family member's account names their responder record. The
    password must be 12 characters or more, not the username and not a common one."""
    try:
        user = access.create_user(session, body.username, body.password, body.role, display_name=body.display_name,
                                  responder_id=body.responder_id)
    except UsernameTaken as err:
        raise HTTPException(409, str(err)) from err
    except UserError as err:
        raise HTTPException(422, str(err)) from err
    return Me(username=user.username, role=user.role)


@router.get("/users")
def list_users(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31 - 1),
               _admin: Principal = Depends(admin_only), session: Session = Depends(registry, scope="function")) -> AccountPage:
    """Every account, by username, a page at a time."""
    items, total = accounts.list_accounts(session, limit, offset)
    return AccountPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/users/{username}/disable", responses=errors(404))
def disable_user(username: str = Username, admin: Principal = Depends(admin_only),
                 session: Session = Depends(registry, scope="function")) -> Account:
    """Disable an account: every token and API key of it stops working at once."""
    return _account_call(accounts.set_active, session, username, False, admin)


@router.post("/users/{username}/enable", responses=errors(404))
def enable_user(username: str = Username, _admin: Principal = Depends(admin_only),
                session: Session = Depends(registry, scope="function")) -> Account:
    """Enable a disabled account again (its old sessions stay ended)."""
    return _account_call(accounts.set_active, session, username, True)


@router.post("/users/{username}/password", status_code=204, responses=errors(404))
def reset_password(body: PasswordReset, username: str = Username, _admin: Principal = Depends(admin_only),
                   session: Session = Depends(registry, scope="function")) -> None:
    """Set a new password for an account; every session of it ends."""
    _account_call(accounts.set_password, session, username, body.password)


@router.post("/api-keys", status_code=201, responses=errors(400, 404))
def add_api_key(body: NewApiKey, _admin: Principal = Depends(admin_only),
                session: Session = Depends(registry, scope="function")) -> dict[str, str]:
    """The key is shown once, here; only its hash is kept."""
    user_id = access.user_id(session, body.username)
    if user_id is None:
        raise HTTPException(404, f"no user {body.username!r}")
    return {"api_key": access.create_api_key(session, user_id, body.name), "username": body.username}


@router.get("/api-keys")
def list_api_keys(username: str | None = Query(None, max_length=100), _admin: Principal = Depends(admin_only),
                  session: Session = Depends(registry, scope="function")) -> list[KeyInfo]:
    """API keys (never the keys themselves: their first characters), optionally of one account."""
    return accounts.list_api_keys(session, username)


@router.post("/api-keys/{key_id}/revoke", responses=errors(404))
def revoke_api_key(key_id: RowId, _admin: Principal = Depends(admin_only),
                   session: Session = Depends(registry, scope="function")) -> KeyInfo:
    """Revoke an API key: it is refused from now on."""
    return _account_call(accounts.revoke_api_key, session, key_id)


class ResponderLink(BaseModel):
    responder_id: int | None = Field(None, ge=1, le=2**31 - 1)  # None: linked to nobody


@router.post("/users/{username}/responder", responses=errors(400, 404))
def link_responder(body: ResponderLink, username: str = Username, _admin: Principal = Depends(admin_only),
                   session: Session = Depends(registry, scope="function")) -> accountlinks.Link:
    """Link an account to a responder record: a family member sees the residents who consented to
    share with it; a responder is sent to alerts as it. The record's name and those residents' names
    come back, so the link can be checked by eye."""
    return _account_call(accountlinks.link_responder, session, username, body.responder_id)
