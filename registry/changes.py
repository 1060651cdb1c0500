"""What every registry service shares: its errors, the version check, and the audit of changes.

Services are plain functions taking a Session (the caller commits) and the actor's name as the
audit records it. They raise ``NotFound``, ``Conflict`` (the record changed since the caller read
it: HTTP 409/412), ``Invalid`` (field and reason: HTTP 422) or ``NotAllowed`` (HTTP 403).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tecwatch.registry.records import AuditEntry
from tecwatch.registry.vocab import UserRole

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
SECRET_CHANGED = "(changed)"  # what the audit shows for a secret's old and new values


class RegistryError(Exception):
    """A registry service refused a request; the message is for people."""


class NotFound(RegistryError, LookupError):
    pass


class Conflict(RegistryError):
    """Someone else changed the record since the caller read it (or it is in a state that forbids
    the change). ``current_version`` is the version now stored, when there is one."""

    def __init__(self, message: str, current_version: int | None = None):
        super().__init__(message)
        self.current_version = current_version


class VersionConflict(Conflict):
    """The version the caller read is not the stored one (or a racing writer got there first):
    the change was refused so that neither is lost. Over HTTP: 412 against If-Match, else 409."""


class Invalid(RegistryError, ValueError):
    """One or more fields are wrong: ``problems`` is a list of (field, reason)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = problems

    @classmethod
    def one(cls, field: str, reason: str) -> Invalid:
        return cls([(field, reason)])


class NotAllowed(RegistryError, PermissionError):
    pass


class Reader(Protocol):
    """Who is reading (the API's Principal is one): what the access log records."""

    username: str
    role: UserRole


def problems_of(err: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field, reason) for each of a pydantic error's problems, never repeating the value given."""
    out = []
    for e in err.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(p) for p in e["loc"]) or "(row)"
        out.append((prefix + field, e["msg"].removeprefix("Value error, ")))
    return out


def validated(model: type[M], data: Any) -> M:
    """``model`` made from ``data`` (a dict, or already one), with ``Invalid`` naming the fields."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise Invalid(problems_of(err)) from None


E = TypeVar("E", bound=enum.StrEnum)


def member(vocabulary: type[E], value: Any, field: str) -> E:
    """``value`` as a member of ``vocabulary``, or Invalid naming the field and the choices."""
    try:
        return vocabulary(value)
    except ValueError:
        raise Invalid.one(field, f"not one of: {', '.join(m.value for m in vocabulary)}") from None


def past(when: datetime, field: str, now: datetime) -> datetime:
    """``when`` if it has its offset and is not after ``now``; else Invalid naming the field."""
    if when.tzinfo is None:
        raise Invalid.one(field, "give the time with its offset")
    if when > now:
        raise Invalid.one(field, "is in the future")
    return when


def check_version(record: Any, expected: int | None, what: str) -> None:
    """The caller's version must be the stored one (None: the caller does not say, as a create's
    own follow-up steps do). The ORM checks it again when it writes, against a racing writer."""
    if expected is not None and record.version != expected:
        raise VersionConflict(f"{what} was changed by someone else (version {record.version}, not {expected}): "
                       "read it again and redo the change", record.version)


def flush(session: Session, what: str) -> None:
    """Write now, so a racing writer's change is a Conflict here rather than a lost update."""
    try:
        session.flush()
    except StaleDataError:
        raise VersionConflict(f"{what} was changed by someone else at the same moment: read it again") from None


def plain(value: Any) -> Any:
    """A value as JSON holds it (audit rows, snapshots)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).isoformat()  # one instant, one text, whatever its zone
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def changed(record: Any, values: dict[str, Any], secrets: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Set ``values`` on ``record``; the audit's changes for those that differ."""
    hidden = set(secrets)
    out: dict[str, dict[str, Any]] = {}
    for field, new in values.items():
        old = getattr(record, field)
        if plain(old) == plain(new):
            continue
        setattr(record, field, new)
        out[field] = ({"old": SECRET_CHANGED if old is not None else None, "new": SECRET_CHANGED}
                      if field in hidden else {"old": plain(old), "new": plain(new)})
    return out


def created(values: dict[str, Any], secrets: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """The audit's changes for a new record: every field given, from nothing."""
    hidden = set(secrets)
    return {field: {"old": None, "new": SECRET_CHANGED if field in hidden else plain(value)}
            for field, value in values.items() if value not in (None, "", [], {})}


def audit_row(actor: str, action: str, entity: str, entity_id: Any, changes: dict[str, Any], at: datetime, *,
              home_id: str | None = None, resident_id: int | None = None) -> dict[str, Any]:
    """An audit row as a dict (bulk inserts take these)."""
    return {"at": at, "actor": actor[:200], "action": action, "entity": entity, "entity_id": str(entity_id)[:64],
            "home_id": home_id, "resident_id": resident_id, "changes": changes}


def audit(session: Session, actor: str, action: str, entity: str, entity_id: Any, changes: dict[str, Any],
          at: datetime, *, home_id: str | None = None, resident_id: int | None = None) -> None:
    """Record one change; nothing when nothing changed (a create is always recorded)."""
    if changes or action == "create":
        session.add(AuditEntry(**audit_row(actor, action, entity, entity_id, changes, at, home_id=home_id,
                                           resident_id=resident_id)))


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
