"""FastAPI dependencies: the registry session, who is asking (token or API key), and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.api.access import AuthError, Principal
from tecwatch.registry.models import UserRole

bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An integration's API key")


def registry(request: Request) -> Iterator[Session]:
    """One session per request, committed if the handler returns normally."""
    with Session(request.app.state.registry) as session, session.begin():
        yield session


def principal(request: Request, token: str | None = Depends(bearer), key: str | None = Depends(api_key)) -> Principal:
    # Token cookies are for the web pages; the API takes a bearer token or an API key.
    token = token or request.cookies.get("tecwatch_token")
    try:
        with Session(request.app.state.registry) as session, session.begin():
            if key:
                return access.principal_from_api_key(session, key)
            if token:
                secret = request.app.state.settings.api.token_secret.get_secret_value()
                return access.principal_from_token(session, token, secret)
    except AuthError as err:
        raise HTTPException(401, str(err), headers={"WWW-Authenticate": "Bearer"}) from err
    raise HTTPException(401, "sign in first (a bearer token or an X-API-Key header)",
                        headers={"WWW-Authenticate": "Bearer"})


def require(*roles: UserRole) -> Callable[..., Principal]:
    allowed = frozenset(roles)

    def check(who: Principal = Depends(principal)) -> Principal:
        if who.role not in allowed:
            raise HTTPException(403, f"a {who.role.value} account cannot do this")
        return who

    return check


# The usual groups.
STAFF = (UserRole.OPERATOR, UserRole.RESPONDER, UserRole.ADMIN)
PEOPLE_READERS = (*STAFF, UserRole.FAMILY)  # may read a person's data (family: only their own)
REPORT_READERS = (UserRole.COMMISSIONER, UserRole.ADMIN)
