"""Signing in (OAuth2 password flow, a JWT back) and out, who am I, and changing one's own password."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from tecwatch.api import accounts, passwords
from tecwatch.api.access import AuthError, Principal, UserError
from tecwatch.api.deps import client_address, errors, principal, registry
from tecwatch.api.signin import SignInRefused, SignInService
from tecwatch.registry.models import UserRole

router = APIRouter(prefix="/api", tags=["auth"], responses=errors(422))


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int  # seconds
    role: UserRole


class Me(BaseModel):
    username: str
    role: UserRole


class NewPassword(BaseModel):
    current_password: str = Field(min_length=1, max_length=passwords.MAX_PASSWORD)
    new_password: str = Field(min_length=passwords.MIN_PASSWORD, max_length=passwords.MAX_PASSWORD)


def _signin(request: Request) -> SignInService:
    return request.app.state.signin


def refused(err: SignInRefused) -> HTTPException:
    return HTTPException(err.status, str(err), headers={"Retry-After": str(err.retry_after)})


def _token(service: SignInService, who: Principal) -> Token:
    token, ttl = service.token(who)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()), role=who.role)


@router.post("/auth/token", responses=errors(400, 401, 429, 503))
def sign_in(request: Request, form: OAuth2PasswordRequestForm = Depends()) -> Token:
    """Sign in with a username and password (OAuth2 password flow); the answer is a bearer token
    (JWT). After a few failures an account or address must wait between tries (429, with
    Retry-After), and is then locked for a while."""
    service = _signin(request)
    try:
        who = service.sign_in(form.username, form.password, client_address(request))
    except SignInRefused as err:
        raise refused(err) from err
    except AuthError as err:
        raise HTTPException(401, str(err), headers={"WWW-Authenticate": "Bearer"}) from err
    return _token(service, who)


@router.post("/auth/logout", status_code=204, responses=errors(401))
def sign_out(who: Principal = Depends(principal), session: Session = Depends(registry, scope="function")) -> Response:
    """End this token's session: it is refused from now on. (An API key is revoked by an admin.)"""
    accounts.sign_out(session, who)
    return Response(status_code=204)


@router.get("/me", responses=errors(401))
def me(who: Principal = Depends(principal)) -> Me:
    """Who the token or API key belongs to, and their role."""
    return Me(username=who.username, role=who.role)


@router.post("/me/password", responses=errors(400, 401, 429, 503))
def change_password(request: Request, body: NewPassword, who: Principal = Depends(principal)) -> Token:
    """Change your own password (12 characters or more, not your username, not a common one).
    Every session of the account ends, this one included: the answer is a new token."""
    service = _signin(request)
    try:
        fresh = service.change_password(who, body.current_password, body.new_password, client_address(request))
    except SignInRefused as err:
        raise refused(err) from err
    except AuthError as err:
        raise HTTPException(401, str(err)) from err
    except UserError as err:
        raise HTTPException(422, str(err)) from err
    return _token(service, fresh)
