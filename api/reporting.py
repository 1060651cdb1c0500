"""Commissioner reports: what the reach and outcome reports share.

The reports themselves are in `reach` (how many homes have assistive technology) and `outcomes`
(alerts, acknowledgement, outcomes, still at home, device faults). They give aggregates only.

Days are UTC days; a date range is [start, end). Alerts belong to a period by when they were raised.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from tecwatch.registry.models import Alert, Device, Home

UNKNOWN = "unknown"
MAX_MONTHS = 240  # a monthly report over more is a mistyped date, and would only take long to say so


class ReportInputError(ValueError):
    """A report's arguments or uploaded file cannot be used."""


# --- Days and periods --------------------------------------------------------------------------

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def checked(d: date) -> date:
    """The day, if reports can cover it: beyond these, day arithmetic leaves Python's calendar."""
    if not FIRST_DAY <= d <= LAST_DAY:
        raise ReportInputError(f"{d.isoformat()} is outside the days reports cover ({FIRST_DAY} to {LAST_DAY})")
    return d


def midnight(d: date) -> datetime:
    return datetime.combine(checked(d), time(), UTC)


def end_of(d: date) -> datetime:
    """The first instant after day `d`: something present at this instant was there at the end of `d`."""
    return midnight(checked(d) + timedelta(days=1))


def cuts(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    if start is not None and end is not None and start > end:
        raise ReportInputError(f"start {start.isoformat()} is after end {end.isoformat()}")
    return (midnight(start) if start else None, midnight(end) if end else None)


def month_periods(session: Session, start: date | None, end: date | None) -> list[tuple[str, datetime, datetime]]:
    """(label, from, to) for each month in [start, end), clipped to the range."""
    cuts(start, end)
    if start is None:
        first = session.scalar(select(func.min(Device.installed_at)))
        if first is None:
            return []
        start = first.date()
    end = end or datetime.now(UTC).date() + timedelta(days=1)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if months > MAX_MONTHS:
        raise ReportInputError(f"{start.isoformat()} to {end.isoformat()} is {months} months; a monthly report "
                               f"covers at most {MAX_MONTHS}")
    out = []
    month = start.replace(day=1)
    while month < end:
        following = (month + timedelta(days=32)).replace(day=1)
        out.append((month.strftime("%Y-%m"), midnight(max(month, start)), midnight(min(following, end))))
        month = following
    return out


def ratio(part: int, whole: int, scale: int = 1, places: int = 4) -> float | None:
    return round(part * scale / whole, places) if whole else None


# --- Filters -----------------------------------------------------------------------------------

def in_district(stmt: Select, home_id_col, district: str | None) -> Select:
    if district is None:
        return stmt
    return stmt.join(Home, Home.id == home_id_col).where(Home.district == district)


def raised_in(stmt: Select, lo: datetime | None, hi: datetime | None, district: str | None) -> Select:
    if lo is not None:
        stmt = stmt.where(Alert.raised_at >= lo)
    if hi is not None:
        stmt = stmt.where(Alert.raised_at < hi)
    return in_district(stmt, Alert.home_id, district)


# --- Homes with technology over time -----------------------------------------------------------

def spans(session: Session, district: str | None, before: datetime) -> tuple[list[datetime], list[datetime]]:
    """Sorted starts and ends of the spans in which a home had at least one device.

    A home whose devices were all removed and later reinstalled has two spans, so it ends and
    starts again, and new minus ended always equals the change in active homes.
    """
    # Devices installed from `before` on cannot change any count up to `before`.
    stmt = in_district(
        select(Device.home_id, Device.installed_at, Device.removed_at)
        .where(Device.installed_at < before, or_(Device.removed_at.is_(None), Device.removed_at > Device.installed_at))
        .order_by(Device.home_id, Device.installed_at), Device.home_id, district)
    starts: list[datetime] = []
    ends: list[datetime] = []
    home, until = None, None
    for home_id, installed, removed in session.execute(stmt):
        if home_id == home and (until is None or installed <= until):
            until = None if until is None or removed is None else max(until, removed)
            continue
        if until is not None:
            ends.append(until)
        home, until = home_id, removed
        starts.append(installed)
    if until is not None:
        ends.append(until)
    return sorted(starts), sorted(ends)


def between(ordered: list[datetime], lo: datetime | None, hi: datetime) -> int:
    return bisect_left(ordered, hi) - (bisect_left(ordered, lo) if lo else 0)


# --- CSV ---------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(rows: Sequence[BaseModel], *, model: type[BaseModel] | None = None) -> str:
    """CSV with a header row from flat models (dates ISO 8601). `model` gives the header when there are no rows."""
    kind = model or (type(rows[0]) if rows else None)
    if kind is None:
        return ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(kind.model_fields)
    for row in rows:
        if type(row) is not kind:
            raise ReportInputError(f"cannot mix {type(row).__name__} rows with {kind.__name__} rows")
        values = row.model_dump(mode="json")
        for column, value in values.items():
            if isinstance(value, (list, dict)):
                raise ReportInputError(f"{kind.__name__}.{column} is not flat; export its rows() instead")
            if isinstance(value, str) and value.startswith(_FORMULA_START):
                values[column] = "'" + value  # a spreadsheet would run it as a formula
        writer.writerow("" if v is None else v for v in values.values())
    return out.getvalue()
