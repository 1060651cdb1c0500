"""FastAPI dependencies: the registry session, who is asking (token or API key), and role checks.

Routes take them as ``Annotated`` types: ``SessionDep`` (one request, one transaction),
``CurrentUser`` (anyone signed in) or a role group (``Editor``, ``Staff``, ``PeopleReader``),
``StoreDep``, ``SettingsDep`` and ``NowDep`` (the app's clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.api.access import AuthError, Principal
from tecwatch.registry.models import UserRole
from tecwatch.settings import Settings
from tecwatch.store import TimeSeriesStore

bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


class FieldProblem(BaseModel):
    """One field that failed validation: where it is (``loc``) and what is wrong (``msg``)."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error answer: a sentence saying what is wrong, or for a request that failed
    validation, the fields at fault."""

    detail: str | list[FieldProblem]


_MEANING = {
    400: "The request body could not be read (not valid JSON or form data)",
    401: "Not signed in, or the token or API key is wrong or expired",
    403: "This account may not do this",
    404: "No such thing, or not one this account may see",
    409: "Not possible in the present state (e.g. an alert already resolved, a username taken), or the record "
         "changed since the version given in the body: read it again",
    412: "The record changed since the version named in If-Match: read it again (the answer's ETag is the current one)",
    428: "Send If-Match with the ETag of the version you read (or that version in the body)",
    429: "Too many failed sign-ins: wait as long as Retry-After says",
    413: "The upload is too large",
    415: "The upload is not in a format the API takes",
    422: "The input is not valid: the detail says what and where",
    503: "A store the request needs is unavailable, or the service is busy; nothing was changed, try again",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error status codes, all answered as a `Problem`."""
    # The JSON content is spelled out as well, so that routes answering HTML document their
    # errors as the JSON they are (the model alone would be filed under the route's media type).
    json = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {code: {"model": Problem, "description": _MEANING[code], "content": json} for code in codes}


# A row number in a path. Bounded to the registry's integer keys (32-bit on PostgreSQL), so an
# out-of-range number is a clear 422 rather than a database error.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A number the registry gave it")]
api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An integration's API key")


def registry(request: Request) -> Iterator[Session]:
    """One session per request, committed if the handler returns normally. Use it with
    ``Depends(registry, scope="function")``: the commit then comes before the response is sent,
    so a client never sees a success that is not yet (or never) in the database."""
    with Session(request.app.state.registry) as session, session.begin():
        yield session


def credential(request: Request, token: str | None = Depends(bearer),
               key: str | None = Depends(api_key)) -> access.Credential | None:
    # Token cookies are for the web pages; the API takes a bearer token or an API key.
    token = token or request.cookies.get("tecwatch_token")
    if key:
        return access.Credential("api_key", key)
    return access.Credential("token", token) if token else None


def token_secret(request: Request) -> str:
    return request.app.state.settings.api.token_secret.get_secret_value()


def now(request: Request) -> datetime:
    """The app's clock: token expiry, sign-in backoff and access-log times all follow it."""
    return request.app.state.clock()


def principal(request: Request, cred: access.Credential | None = Depends(credential)) -> Principal:
    if cred is None:
        raise HTTPException(401, "sign in first (a bearer token or an X-API-Key header)",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        with Session(request.app.state.registry) as session, session.begin():
            return access.principal_from(session, cred, token_secret(request), now(request))
    except AuthError as err:
        raise HTTPException(401, str(err), headers={"WWW-Authenticate": "Bearer"}) from err


def client_address(request: Request) -> str:
    """The client's address (the security middleware has already looked past trusted proxies)."""
    return request.client.host if request.client else ""


def require(*roles: UserRole) -> Callable[..., Principal]:
    allowed = frozenset(roles)

    def check(request: Request, who: Principal = Depends(principal)) -> Principal:
        if who.role not in allowed:
            refusal = f"a {who.role.value} account cannot do this"
            log_refusal(request, who, refusal)
            raise HTTPException(403, refusal)
        return who

    return check


def log_refusal(request: Request, who: Principal, why: str) -> None:
    """A signed-in caller refused by role: logged as denied, with the route and what it named."""
    ids, query = request.path_params, request.url.query
    route = getattr(request.scope.get("route"), "path", request.url.path)
    log_denied(request, who, f"{request.method} {route}", home_id=ids.get("home_id"),
               resident_id=_row_id(ids.get("resident_id")), alert_id=_row_id(ids.get("alert_id")),
               detail=f"{why} (asked: {unquote_plus(query)})" if query else why)


def log_denied(request: Request, who: Principal, action: str, *, home_id: str | None = None,
               resident_id: int | None = None, alert_id: int | None = None, detail: str = "") -> None:
    """A refused attempt, in a transaction of its own: the request's is rolled back with the refusal."""
    with Session(request.app.state.registry) as session, session.begin():
        access.log_denied(session, who, action, home_id=home_id, resident_id=resident_id, alert_id=alert_id,
                          detail=detail, now=now(request))


def _row_id(value: object) -> int | None:
    """A path's row number as the log keeps it (not yet checked: the refusal comes first)."""
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def store(request: Request) -> TimeSeriesStore:
    return request.app.state.store


def settings(request: Request) -> Settings:
    return request.app.state.settings


# The usual groups.
STAFF = (UserRole.OPERATOR, UserRole.RESPONDER, UserRole.ADMIN, UserRole.COORDINATOR)
PEOPLE_READERS = (*STAFF, UserRole.FAMILY)  # may read a person's data (family: only their own)
REPORT_READERS = (UserRole.COMMISSIONER, UserRole.ADMIN)
EDITORS = (UserRole.COORDINATOR, UserRole.ADMIN)  # create and change the registry's records

# One session per request: committed before the answer is sent if the handler returned, rolled
# back if it raised (see ``registry``).
SessionDep = Annotated[Session, Depends(registry, scope="function")]
CurrentUser = Annotated[Principal, Depends(principal)]
PrincipalDep = CurrentUser
Editor = Annotated[Principal, Depends(require(*EDITORS))]
Staff = Annotated[Principal, Depends(require(*STAFF))]
PeopleReader = Annotated[Principal, Depends(require(*PEOPLE_READERS))]
StoreDep = Annotated[TimeSeriesStore, Depends(store)]
SettingsDep = Annotated[Settings, Depends(settings)]
NowDep = Annotated[datetime, Depends(now)]
