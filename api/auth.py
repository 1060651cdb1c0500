"""Signing in (OAuth2 password flow, a JWT back), who am I, and API keys for integrations."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.api.access import AuthError, Principal, UserError, UsernameTaken
from tecwatch.api.deps import errors, principal, registry, require
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


class NewUser(BaseModel):
    username: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=access.MIN_PASSWORD, max_length=200)
    role: UserRole
    display_name: str = Field("", max_length=200)
    responder_id: int | None = None


class NewApiKey(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)


@router.post("/auth/token", responses=errors(400, 401))
def sign_in(request: Request, form: OAuth2PasswordRequestForm = Depends(),
            session: Session = Depends(registry, scope="function")) -> Token:
    """Sign in with a username and password (OAuth2 password flow); the answer is a bearer token (JWT)."""
    try:
        who = access.authenticate(session, form.username, form.password)
    except AuthError as err:
        raise HTTPException(401, str(err), headers={"WWW-Authenticate": "Bearer"}) from err
    api = request.app.state.settings.api
    ttl = timedelta(minutes=api.token_minutes)
    return Token(access_token=access.issue_token(who, api.token_secret.get_secret_value(), ttl),
                 expires_in=int(ttl.total_seconds()), role=who.role)


@router.get("/me", responses=errors(401))
def me(who: Principal = Depends(principal)) -> Me:
    """Who the token or API key belongs to, and their role."""
    return Me(username=who.username, role=who.role)


@router.post("/admin/users", status_code=201, responses=errors(400, 401, 403, 409))
def add_user(body: NewUser, _admin: Principal = Depends(require(UserRole.ADMIN)),
             session: Session = Depends(registry, scope="function")) -> Me:
    """Add an account (admins only). A family member's account names their responder record."""
    try:
        user = access.create_user(session, body.username, body.password, body.role, display_name=body.display_name,
                                  responder_id=body.responder_id)
    except UsernameTaken as err:
        raise HTTPException(409, str(err)) from err
    except UserError as err:
        raise HTTPException(422, str(err)) from err
    return Me(username=user.username, role=user.role)


@router.post("/admin/api-keys", status_code=201, responses=errors(400, 401, 403, 404))
def add_api_key(body: NewApiKey, _admin: Principal = Depends(require(UserRole.ADMIN)),
                session: Session = Depends(registry, scope="function")) -> dict[str, str]:
    """The key is shown once, here; only its hash is kept."""
    user_id = access.user_id(session, body.username)
    if user_id is None:
        raise HTTPException(404, f"no user {body.username!r}")
    return {"api_key": access.create_api_key(session, user_id, body.name), "username": body.username}
