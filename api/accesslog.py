"""Reading the access log: who read (or was refused) whose data, and when, newest first, filtered
by user, resident, home, time, action and outcome. The admin API, the admin page and the command
line all call ``read``, which logs the reading too: the log shows who looked at the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.registry.models import AccessLog, Resident, UserRole

AccessOutcome = Literal["allowed", "denied"]
OUTCOMES: tuple[str, ...] = (access.ALLOWED, access.DENIED)
READ = "read access log"


class FilterError(ValueError):
    """A filter that cannot be used as given (HTTP 422; exit code 2)."""


class AccessEntry(BaseModel):
    id: int
    at: datetime
    username: str
    role: UserRole | None  # None: no account (an acknowledge link's holder, the command line)
    action: str
    outcome: AccessOutcome
    home_id: str | None
    resident_id: int | None
    alert_id: int | None
    detail: str


class AccessLogPage(BaseModel):
    items: list[AccessEntry]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class LogFilter:
    user: str | None = None
    resident_id: int | None = None  # rows naming the resident, and rows about their home
    home_id: str | None = None
    start: datetime | None = None  # from this moment
    end: datetime | None = None  # up to, not including
    action: str | None = None  # actions containing this text
    outcome: str | None = None

    @classmethod
    def parse(cls, *, user: str | None = None, resident: str | int | None = None, home: str | None = None,
              start: str | None = None, end: str | None = None, action: str | None = None,
              outcome: str | None = None, names: tuple[str, str] = ("from", "to")) -> LogFilter:
        """From what a person typed (a form, the command line, a query string): blanks are no
        filter. ``names``: what the start and end are called where they were typed."""
        resident_id = _resident(resident)
        if outcome and outcome not in OUTCOMES:
            raise FilterError(f"the outcome is one of {', '.join(OUTCOMES)}")
        f = cls(_text(user), resident_id, _text(home), when(start, names[0]), when(end, names[1]), _text(action),
                outcome or None)
        if f.start and f.end and f.start >= f.end:
            raise FilterError(f"'{names[0]}' must be before '{names[1]}'")
        return f

    def describe(self) -> str:
        parts = [("user", self.user), ("resident", self.resident_id), ("home", self.home_id),
                 ("from", self.start and self.start.isoformat()), ("to", self.end and self.end.isoformat()),
                 ("action", self.action), ("outcome", self.outcome)]
        return " ".join(f"{name}={value}" for name, value in parts if value is not None) or "everything"


def when(text: str | None, name: str) -> datetime | None:
    """A date (its midnight) or an ISO 8601 date-time; UTC unless it gives an offset."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise FilterError(f"'{name}' must be a date (2026-11-25) or a date and time (2026-11-25T08:30)") from None


def entries(session: Session, f: LogFilter, limit: int = 100, offset: int = 0) -> AccessLogPage:
    q = select(AccessLog)
    if f.user:
        q = q.where(AccessLog.username == f.user)
    if f.resident_id is not None:
        # Their home's rows are about them too. Its id is taken from the log itself as well as the
        # registry, because an erasure gives the home a new id there but leaves the log as it was.
        homes = select(AccessLog.home_id).where(AccessLog.resident_id == f.resident_id,
                                                AccessLog.home_id.is_not(None)).union(
            select(Resident.home_id).where(Resident.id == f.resident_id))
        q = q.where(or_(AccessLog.resident_id == f.resident_id,
                        and_(AccessLog.resident_id.is_(None), AccessLog.home_id.in_(homes))))
    if f.home_id:
        q = q.where(AccessLog.home_id == f.home_id)
    if f.start:
        q = q.where(AccessLog.at >= f.start)
    if f.end:
        q = q.where(AccessLog.at < f.end)
    if f.action:
        q = q.where(AccessLog.action.icontains(f.action, autoescape=True))
    if f.outcome:
        q = q.where(AccessLog.outcome == f.outcome)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(AccessLog.at.desc(), AccessLog.id.desc()).limit(limit).offset(offset))
    return AccessLogPage(items=[_entry(r) for r in rows], total=total, limit=limit, offset=offset)


def read(session: Session, f: LogFilter, limit: int, offset: int, *, username: str, role: UserRole | None,
         action: str = READ, now: datetime | None = None) -> AccessLogPage:
    """A page of the log, and a row saying who read it with which filters (after the query, so
    the page shows the log as it was when asked)."""
    page = entries(session, f, limit, offset)
    access.log_entry(session, username, role, action, home_id=f.home_id, resident_id=f.resident_id,
                     detail=f.describe(), now=now)
    return page


def _entry(r: AccessLog) -> AccessEntry:
    return AccessEntry(id=r.id, at=r.at, username=r.username, role=r.role, action=r.action,
                       outcome=r.outcome, home_id=r.home_id,
                       resident_id=r.resident_id, alert_id=r.alert_id, detail=r.detail)


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _resident(value: str | int | None) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) < 2**31:
        raise FilterError("the resident is their number (e.g. 12)")
    return int(text)
