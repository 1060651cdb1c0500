"""Reach: how many homes have assistive technology, by district, device type and need, over time,
and per 1,000 people aged 65 and over (district populations come from a CSV the council supplies)."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import UTC, date, datetime

from pydantic import BaseModel
from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.orm import Session

from tecwatch.api.disclosure import Count, Figure
from tecwatch.api.reporting import (
    UNKNOWN, ReportInputError, between, end_of, month_periods, ratio, spans,
)
from tecwatch.registry.models import Device, DistrictPopulation, Home, Resident

_PG_INT_MAX = 2**31 - 1


class ReachRow(BaseModel):
    day: date
    breakdown: str  # total, district, device_type or primary_need
    key: str
    homes: Count


class ReachOnDay(BaseModel):
    day: date
    district: str | None
    homes: Count
    by_district: dict[str, Count]
    by_device_type: dict[str, Count]
    # A home counts under each need of its residents, so these may add up to more than `homes`.
    by_primary_need: dict[str, Count]

    def rows(self) -> list[ReachRow]:
        parts = {"total": {"all": self.homes}, "district": self.by_district, "device_type": self.by_device_type,
                 "primary_need": self.by_primary_need}
        return [ReachRow(day=self.day, breakdown=part, key=key, homes=n)
                for part, counts in parts.items() for key, n in counts.items()]


class MonthReach(BaseModel):
    month: str
    homes_active_at_end: Count
    new_homes: Count
    ended_homes: Count
    net_growth: Count


class DistrictReach(BaseModel):
    day: date
    district: str
    homes_active: Count
    aged_65_plus: int | None  # the council's population figure, not people with the service
    homes_per_1000_aged_65_plus: Figure


def _active_at(cut: datetime):
    return and_(Device.installed_at < cut, or_(Device.removed_at.is_(None), Device.removed_at >= cut))


def _by_district(rows) -> Counter[str]:
    out: Counter[str] = Counter()
    for name, n in rows:
        out[name or UNKNOWN] += n
    return out


def reach_on(session: Session, day: date, district: str | None = None) -> ReachOnDay:
    cut = end_of(day)
    active = select(Device.home_id).join(Home, Home.id == Device.home_id).where(_active_at(cut))
    if district is not None:
        active = active.where(Home.district == district)
    homes_of = func.count(distinct(Device.home_id))

    def grouped(col) -> list:
        return list(session.execute(active.with_only_columns(col, homes_of).group_by(col)))

    homes = session.scalar(active.with_only_columns(homes_of)) or 0
    at_home = [Resident.home_id.in_(active.scalar_subquery()),
               or_(Resident.left_at.is_(None), Resident.left_at >= cut)]
    needs = {need.value: n for need, n in session.execute(
        select(Resident.primary_need, func.count(distinct(Resident.home_id))).where(*at_home)
        .group_by(Resident.primary_need))}
    with_residents = session.scalar(select(func.count(distinct(Resident.home_id))).where(*at_home)) or 0
    if homes > with_residents:
        needs[UNKNOWN] = homes - with_residents
    return ReachOnDay(day=day, district=district, homes=homes,
                      by_district=dict(sorted(_by_district(grouped(Home.district)).items())),
                      by_device_type=dict(sorted((k, n) for k, n in grouped(Device.type))),
                      by_primary_need=dict(sorted(needs.items())))


def reach_by_month(session: Session, start: date | None = None, end: date | None = None,
                   district: str | None = None) -> list[MonthReach]:
    """A month cut short by the range is counted up to the range's end."""
    months = month_periods(session, start, end)
    if not months:
        return []
    starts, ends = spans(session, district, months[-1][2])
    out = []
    for label, lo, hi in months:
        new, ended = between(starts, lo, hi), between(ends, lo, hi)
        out.append(MonthReach(month=label, homes_active_at_end=between(starts, None, hi) - between(ends, None, hi),
                              new_homes=new, ended_homes=ended, net_growth=new - ended))
    return out


def district_homes(session: Session, day: date, district: str | None = None) -> Counter[str]:
    """Homes with technology at the end of a day, per district."""
    stmt = (select(Home.district, func.count(distinct(Device.home_id))).join(Home, Home.id == Device.home_id)
            .where(_active_at(end_of(day))).group_by(Home.district))
    if district is not None:
        stmt = stmt.where(Home.district == district)
    return _by_district(session.execute(stmt))


def reach_per_thousand(session: Session, day: date, district: str | None = None) -> list[DistrictReach]:
    pops = select(DistrictPopulation.district, DistrictPopulation.aged_65_plus)
    if district is not None:
        pops = pops.where(DistrictPopulation.district == district)
    homes = district_homes(session, day, district)
    population = dict(session.execute(pops).all())
    return [DistrictReach(day=day, district=name, homes_active=homes[name], aged_65_plus=population.get(name),
                          homes_per_1000_aged_65_plus=ratio(homes[name], population.get(name) or 0, 1000, 2))
            for name in sorted(set(homes) | set(population))]


# --- District populations ----------------------------------------------------------------------

def _population_cells(cells: list[str], header: list[str]) -> tuple[str, int]:
    at_name, at_count = header.index("district"), header.index("aged_65_plus")
    if len(cells) > len(header):
        raise ValueError(f"{len(cells)} values but the header has {len(header)} columns (a comma inside a number?)")
    if len(cells) <= max(at_name, at_count):
        raise ValueError(f"missing column {header[len(cells)]!r}")
    name, value = cells[at_name], cells[at_count]
    if not name:
        raise ValueError("empty district")
    if len(name) > 80:
        raise ValueError("district is longer than 80 characters")
    if re.fullmatch(r"-\s*[0-9]+", value):
        raise ValueError(f"aged_65_plus must not be negative, got {value!r}")
    if not re.fullmatch(r"[0-9]+", value):
        raise ValueError(f"aged_65_plus must be a whole number, got {value!r}")
    if int(value) > _PG_INT_MAX:
        raise ValueError(f"aged_65_plus {value} is too large")
    return name, int(value)


def _parse_population(text: str) -> dict[str, int]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        lines = [(reader.line_num, [c.strip() for c in row]) for row in reader]
    except csv.Error as err:
        raise ReportInputError(f"line {reader.line_num}: {err}") from err
    lines = [(n, cells) for n, cells in lines if any(cells)]
    if not lines:
        raise ReportInputError("line 1: missing header district,aged_65_plus (the file is empty)")
    header = [c.lower() for c in lines[0][1]]
    for column in ("district", "aged_65_plus"):
        if column not in header:
            raise ReportInputError(f"line {lines[0][0]}: missing column {column!r} in the header "
                                   "(expected district,aged_65_plus)")
    found: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    for line, cells in lines[1:]:
        try:
            name, count = _population_cells(cells, header)
        except ValueError as err:
            raise ReportInputError(f"line {line}: {err}") from None
        if name in found:
            raise ReportInputError(f"line {line}: district {name!r} is repeated (first on line {first_seen[name]})")
        found[name], first_seen[name] = count, line
    return found


def load_population_csv(session: Session, text: str, source: str, *, now: datetime | None = None) -> int:
    """Upsert district populations from `district,aged_65_plus` CSV; all rows or none. The caller commits."""
    if len(source) > 200:
        raise ReportInputError("source is longer than 200 characters")
    found = _parse_population(text)
    at = now or datetime.now(UTC)
    existing = {p.district: p for p in session.scalars(
        select(DistrictPopulation).where(DistrictPopulation.district.in_(list(found))))} if found else {}
    for name, count in found.items():
        if name in existing:
            existing[name].aged_65_plus, existing[name].source, existing[name].updated_at = count, source, at
        else:
            session.add(DistrictPopulation(district=name, aged_65_plus=count, source=source, updated_at=at))
    session.flush()
    return len(found)
