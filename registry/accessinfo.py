"""How to get into a home: the key safe's location and code, and other access notes.

Stored only as a Fernet token (AES-128-CBC with HMAC-SHA256) under the key in the setting
``registry.encryption_key``, so a copy of the database (a backup, a replica, a stolen disk)
does not give anyone the way in. Reading it is a separate call that names the reader, is open to
staff who attend or dispatch only, and writes an access-log row each time. Losing the key loses
the access information: it is a secret to back up with the others.
"""

from __future__ import annotations

import json
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from tecwatch.registry.changes import (
    SECRET_CHANGED, NotAllowed, NotFound, Reader, audit, check_version, flush, validated,
)
from tecwatch.registry.fields import Input
from tecwatch.registry.models import AccessLog, Home
from tecwatch.registry.records import HomeAccess
from tecwatch.registry.vocab import ACCESS_INFO_ROLES

FIELDS = ("key_safe_location", "key_safe_code", "access_notes")
READ_ACTION = "read access information"


class AccessInfoError(RuntimeError):
    """The stored access information cannot be opened with this key (it was sealed with another)."""


class AccessInfo(Input):
    key_safe_location: str = Field("", max_length=200)  # "left of the front door, behind the pot"
    key_safe_code: str = Field("", max_length=40)
    access_notes: str = Field("", max_length=2000)  # "door sticks: lift and push", "dog in the kitchen"


class AccessInfoStatus(BaseModel):
    """What may be shown without opening it: whether there is any, and who last changed it."""

    home_id: str
    recorded: bool
    updated_at: datetime | None
    updated_by: str | None
    version: int | None


class Sealer:
    """Seals and opens access information with the registry's key (stateless once made)."""

    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())

    def seal(self, info: AccessInfo) -> str:
        return self._fernet.encrypt(json.dumps(info.model_dump(), separators=(",", ":")).encode()).decode()

    def open(self, token: str) -> AccessInfo:
        try:
            return AccessInfo.model_validate_json(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise AccessInfoError("the access information was sealed with another key: "
                                  "registry.encryption_key is not the one it was written with") from None


def valid_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def set_access_info(session: Session, sealer: Sealer, actor: str, home_id: str, info: AccessInfo | dict, *,
                    version: int | None, now: datetime) -> AccessInfoStatus:
    """Record (or replace) a home's access information. The audit says which parts changed,
    never what they are."""
    info = validated(AccessInfo, info)
    if session.get(Home, home_id) is None:
        raise NotFound(f"no home {home_id!r}")
    row = session.get(HomeAccess, home_id)
    if row is None:
        before = AccessInfo()
        row = HomeAccess(home_id=home_id, sealed=sealer.seal(info), updated_at=now, updated_by=actor[:200])
        session.add(row)
        action = "create"
    else:
        check_version(row, version, f"the access information of {home_id}")
        before = sealer.open(row.sealed)
        row.sealed, row.updated_at, row.updated_by = sealer.seal(info), now, actor[:200]
        action = "update"
    diff = {f: {"old": SECRET_CHANGED if getattr(before, f) else None, "new": SECRET_CHANGED if getattr(info, f) else None}
            for f in FIELDS if getattr(before, f) != getattr(info, f)}
    flush(session, f"the access information of {home_id}")
    audit(session, actor, action, "access_info", home_id, diff, now, home_id=home_id)
    return _status(home_id, row)


def access_info_status(session: Session, home_id: str) -> AccessInfoStatus:
    if session.get(Home, home_id) is None:
        raise NotFound(f"no home {home_id!r}")
    return _status(home_id, session.get(HomeAccess, home_id))


def read_access_info(session: Session, sealer: Sealer, reader: Reader, home_id: str, *, now: datetime) -> AccessInfo:
    """The access information in clear, for staff who may need to let themselves in; the read
    is access-logged (the caller commits it with the session)."""
    if reader.role not in ACCESS_INFO_ROLES:
        raise NotAllowed("only monitoring-centre, responder, coordinator and admin staff may read access information")
    row = session.get(HomeAccess, home_id)
    if row is None:
        raise NotFound(f"no access information for {home_id!r}")
    info = sealer.open(row.sealed)
    session.add(AccessLog(at=now, username=reader.username, role=reader.role, action=READ_ACTION, home_id=home_id))
    return info


def _status(home_id: str, row: HomeAccess | None) -> AccessInfoStatus:
    if row is None:
        return AccessInfoStatus(home_id=home_id, recorded=False, updated_at=None, updated_by=None, version=None)
    return AccessInfoStatus(home_id=home_id, recorded=True, updated_at=row.updated_at, updated_by=row.updated_by,
                            version=row.version)
