"""What the registry's routers share: optimistic concurrency over HTTP, the registry's errors as
HTTP answers, and reads that are access-logged.

Concurrency: what a client reads carries ``ETag: "<version>"``; a change names the version it
was made against, in ``If-Match`` (412 when the record has moved on) or, for forms, as
``version`` in the body (409). A change naming neither is refused with 428, so nobody can
overwrite someone else's edit by leaving the version out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecwatch.api import access, deps
from tecwatch.api.access import Principal
from tecwatch.api.deps import errors
from tecwatch.registry.accessinfo import AccessInfoError
from tecwatch.registry.changes import Conflict, Invalid, NotAllowed, NotFound, VersionConflict
from tecwatch.registry.fields import Input, RowRef
from tecwatch.registry.homes import HOME_ID_PATTERN

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_ETAG = re.compile(r'^"([0-9]{1,10})"$')
NO_VERSION = 0  # what an If-Match we never gave stands for: it matches no version (versions start at 1)

# A home's id in a path: what its gateway uses, one MQTT topic level.
HomeId = Annotated[str, Path(max_length=64, pattern=HOME_ID_PATTERN, description="The home's id (as its hub uses it)")]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=100,
                                       description='The ETag of the version you read ("3"), or * for what is there')]

ETAG_HEADER = {"ETag": {"description": 'The record\'s version ("3"): send it back in If-Match to change it',
                        "schema": {"type": "string"}}}
CHANGE_ERRORS = errors(400, 409, 412, 428)  # what every change that names a version may answer
CREATE_ERRORS = errors(400, 409)


def tagged(status: int = 200) -> dict[int | str, dict[str, Any]]:
    """OpenAPI: this answer carries the record's ETag."""
    return {status: {"headers": ETAG_HEADER}}


class Versioned(Input):
    version: RowRef | None = Field(None, description="The version you read, for forms that cannot send If-Match "
                                                     "(a mismatch is a 409)")


def expected(if_match: str | None, body_version: int | None, *, required: bool = True) -> int | None:
    """The version a change is made against: If-Match first, else the body's ``version``; None
    for ``If-Match: *`` (whatever is stored) or, when not ``required``, for neither."""
    if if_match is not None:
        value = if_match.strip()
        if value == "*":
            return None
        match = _ETAG.match(value)
        return int(match[1]) if match else NO_VERSION
    if body_version is not None or not required:
        return body_version
    raise HTTPException(428, "say which version you are changing: send If-Match with the ETag you read "
                             "(or the version in the body)")


def unversioned(body: BaseModel, model: type[M]) -> M:
    """``body`` as the service's own input model, without the API's ``version``; only the fields
    the client gave count as given (it was validated with the same rules)."""
    given = body.model_fields_set - {"version"}
    return model.model_construct(_fields_set=given, **{f: getattr(body, f) for f in model.model_fields})


def etag(response: Response, version: int | None) -> None:
    if version is not None:
        response.headers["ETag"] = f'"{version}"'


def actor(who: Principal) -> str:
    """Who the audit names."""
    return f"{who.username} ({who.role.value})"


def logged(request: Request, session: Session, who: Principal, action: str, call: Callable[[], T], *,
           home_id: str | None = None, resident_id: int | None = None) -> T:
    """``call()``, whose answer carries a person's data: an access-log row in the request's
    transaction, or, for something that is not there, a denied row of its own (the request's
    transaction is rolled back)."""
    try:
        out = call()
    except NotFound as err:
        deps.log_denied(request, who, action, home_id=home_id, resident_id=resident_id, detail=str(err))
        raise
    access.log_access(session, who, action, home_id=home_id or getattr(out, "home_id", None),
                      resident_id=resident_id or getattr(out, "resident_id", None), now=deps.now(request))
    return out


def _problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _loc(request: Request, field: str) -> list[str | int]:
    where = "query" if request.method == "GET" else "body"
    parts = [int(p) if p.isdigit() else p for p in field.split(".") if p and p != "(row)"]
    return [where, *parts]


def install(app: FastAPI) -> None:
    """The registry's errors as HTTP answers, the same for every route."""

    @app.exception_handler(RequestValidationError)
    async def _unreadable(request: Request, exc: RequestValidationError) -> JSONResponse:
        # As FastAPI answers, without echoing the values given: an NHS number or a key-safe
        # code would otherwise come back in the error, and end up in whatever logs it.
        return _problem(422, [{"type": e["type"], "loc": list(e["loc"]),
                               "msg": str(e["msg"]).removeprefix("Value error, ")} for e in exc.errors()])

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _problem(404, str(exc))

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed) -> JSONResponse:
        return _problem(403, str(exc))

    @app.exception_handler(Invalid)
    async def _invalid(request: Request, exc: Invalid) -> JSONResponse:
        return _problem(422, [{"loc": _loc(request, field), "msg": reason, "type": "value_error"}
                              for field, reason in exc.problems])

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        # A stale If-Match is a failed precondition; a stale version in the body, or a state that
        # forbids the change, a conflict.
        status = 412 if isinstance(exc, VersionConflict) and "if-match" in request.headers else 409
        tag = {"ETag": f'"{exc.current_version}"'} if exc.current_version is not None else None
        return _problem(status, str(exc), tag)

    @app.exception_handler(IntegrityError)
    async def _racing_insert(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests made the same record at the same moment: the database kept the first.
        return _problem(409, "someone else made or changed this record at the same moment: read it again")

    @app.exception_handler(AccessInfoError)
    async def _sealed(request: Request, exc: AccessInfoError) -> JSONResponse:
        return _problem(503, str(exc))
