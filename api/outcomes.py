"""Outcomes: alerts per 100 homes, time to acknowledge (api/timings.py), how alerts ended, whether people stay at
home, and device fault rates."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, case, distinct, func, or_, select, union
from sqlalchemy.orm import Session

from tecwatch.alerts.rules import DEVICE_HEALTH_RULES
from tecwatch.api.disclosure import Count, Figure
from tecwatch.api.reporting import (
    UNKNOWN, between, checked, cuts, end_of, in_district, month_periods, raised_in, ratio, spans,
)
from tecwatch.api.responsetimes import alert_times
from tecwatch.api.timings import AckTimes, answer_counts  # noqa: F401  (AckTimes is published from here too)
from tecwatch.registry.models import (
    Alert, AlertState, Device, Gateway, LeftReason, Outcome, Resident,
)

GATEWAY = "gateway"
STILL_AT_HOME_DAYS = (91, 365)


class AlertRate(BaseModel):
    month: str
    rule: str
    alerts: Count
    homes_active_at_end: Count
    alerts_per_100_homes: Figure


class _Period(BaseModel):
    start: date | None
    end: date | None
    district: str | None


class OutcomeShare(BaseModel):
    outcome: Outcome
    alerts: Count
    share: Figure


class OutcomeDistribution(_Period):
    resolved: Count
    outcomes: list[OutcomeShare]

    def rows(self) -> list[OutcomeShare]:
        return list(self.outcomes)


class Retention(BaseModel):
    days: int
    people: Count
    still_at_home: Count
    share: Figure


class StillAtHome(BaseModel):
    day: date
    district: str | None
    after_91_days: Retention
    after_365_days: Retention

    def rows(self) -> list[Retention]:
        return [self.after_91_days, self.after_365_days]


class DeviceFaults(BaseModel):
    device_type: str
    devices: Count
    faults: Count
    faults_per_100_devices: Figure


# How many homes each count of alerts or devices comes from (small-number suppression needs it).
Homes = dict[Any, int]


def alerts_per_100_homes(session: Session, start: date | None = None, end: date | None = None,
                         district: str | None = None) -> list[AlertRate]:
    """One row per month and per rule seen in the range (zero where a rule had no alerts that month)."""
    return alert_rates_counted(session, start, end, district)[0]


def alert_rates_counted(session: Session, start: date | None = None, end: date | None = None,
                        district: str | None = None) -> tuple[list[AlertRate], Homes]:
    """The rates, and the homes each month's alerts of a rule came from, by (month, rule)."""
    months = month_periods(session, start, end)
    if not months:
        return [], {}
    bucket = case(*[(and_(Alert.raised_at >= lo, Alert.raised_at < hi), i) for i, (_, lo, hi) in enumerate(months)],
                  else_=None).label("bucket")
    # Grouped over a subquery: PostgreSQL cannot match a GROUP BY CASE whose parameters are bound twice.
    raised = raised_in(select(bucket, Alert.rule, Alert.home_id), months[0][1], months[-1][2], district).subquery()
    counts: dict[tuple[int, str], int] = {}
    homes: Homes = {}
    for b, rule, n, h in session.execute(
            select(raised.c.bucket, raised.c.rule, func.count(), func.count(distinct(raised.c.home_id)))
            .group_by(raised.c.bucket, raised.c.rule)):
        counts[(b, rule)] = n
        homes[(months[b][0], rule)] = h
    starts, ends = spans(session, district, months[-1][2])
    out = []
    for i, (label, _, hi) in enumerate(months):
        active = between(starts, None, hi) - between(ends, None, hi)
        out += [AlertRate(month=label, rule=rule, alerts=counts.get((i, rule), 0), homes_active_at_end=active,
                          alerts_per_100_homes=ratio(counts.get((i, rule), 0), active, 100, 2))
                for rule in sorted({rule for _, rule in counts})]
    return out, homes


def time_to_acknowledge(session: Session, start: date | None = None, end: date | None = None,
                        district: str | None = None, priority: int | None = None) -> AckTimes:
    """Time to answer over the range, unpublished (see api/timings.py and api/responsetimes.py)."""
    values, _ = answer_counts(alert_times(session, start, end, district, priority))
    return AckTimes(start=start, end=end, district=district, priority=priority,
                    **{k: v for k, v in values.items() if k in AckTimes.model_fields})


def outcome_distribution(session: Session, start: date | None = None, end: date | None = None,
                         district: str | None = None) -> OutcomeDistribution:
    return outcomes_counted(session, start, end, district)[0]


def outcomes_counted(session: Session, start: date | None = None, end: date | None = None,
                     district: str | None = None) -> tuple[OutcomeDistribution, Homes]:
    """The distribution, and the homes behind each outcome's count (and behind "resolved")."""
    lo, hi = cuts(start, end)
    counts: Counter[Outcome] = Counter()
    homes: defaultdict[Any, set[str]] = defaultdict(set)
    for outcome, home_id, n in session.execute(raised_in(
            select(Alert.outcome, Alert.home_id, func.count())
            .where(Alert.state == AlertState.RESOLVED, Alert.outcome.is_not(None))
            .group_by(Alert.outcome, Alert.home_id), lo, hi, district)):
        counts[outcome] += n
        homes[outcome].add(home_id)
        homes["resolved"].add(home_id)
    total = sum(counts.values())
    report = OutcomeDistribution(
        start=start, end=end, district=district, resolved=total,
        outcomes=[OutcomeShare(outcome=o, alerts=counts[o], share=ratio(counts[o], total)) for o in Outcome])
    return report, {k: len(v) for k, v in homes.items()}


def still_at_home(session: Session, day: date, district: str | None = None) -> StillAtHome:
    """Each resident of a home counts, measured from the home's first installation."""
    # Installed at least N days before `day`: installed on or before day - N.
    eligible_before = {n: end_of(checked(day) - timedelta(days=n)) for n in STILL_AT_HOME_DAYS}
    first = (select(Device.home_id.label("home_id"), func.min(Device.installed_at).label("installed"))
             .group_by(Device.home_id).subquery())
    stmt = in_district(
        select(Resident.left_at, Resident.left_reason, first.c.installed)
        .join(first, first.c.home_id == Resident.home_id)
        .where(first.c.installed < max(eligible_before.values())), Resident.home_id, district)
    people: Counter[int] = Counter()
    stayed: Counter[int] = Counter()
    for left_at, reason, installed in session.execute(stmt):
        for n, cut in eligible_before.items():
            if installed < cut:
                people[n] += 1
                # service_ended: they no longer have the service but still live at home.
                stayed[n] += (left_at is None or reason == LeftReason.SERVICE_ENDED
                              or left_at > installed + timedelta(days=n))
    after_91, after_365 = (Retention(days=n, people=people[n], still_at_home=stayed[n],
                                     share=ratio(stayed[n], people[n])) for n in STILL_AT_HOME_DAYS)
    return StillAtHome(day=day, district=district, after_91_days=after_91, after_365_days=after_365)


def device_fault_rates(session: Session, start: date | None = None, end: date | None = None,
                       district: str | None = None) -> list[DeviceFaults]:
    """hub_offline counts against the home's gateway (a Gateway row or a device of type "gateway")."""
    return faults_counted(session, start, end, district)[0]


def faults_counted(session: Session, start: date | None = None, end: date | None = None,
                   district: str | None = None) -> tuple[list[DeviceFaults], Homes]:
    """The rates, and the homes behind each count, by ("devices" or "faults", device type)."""
    lo, hi = cuts(start, end)
    active = [Device.installed_at < hi] if hi else []
    if lo is not None:
        active.append(or_(Device.removed_at.is_(None), Device.removed_at > lo))
    devices: Counter[str] = Counter()
    homes: Homes = {}
    for kind, n, h in session.execute(in_district(
            select(Device.type, func.count(), func.count(distinct(Device.home_id)))
            .where(*active, Device.type != GATEWAY).group_by(Device.type), Device.home_id, district)):
        devices[kind], homes[("devices", kind)] = n, h
    hubs = in_district(select(Gateway.home_id).where(*([Gateway.installed_at < hi] if hi else [])),
                        Gateway.home_id, district)
    hub_devices = in_district(select(Device.home_id).where(*active, Device.type == GATEWAY), Device.home_id, district)
    # One gateway per home, whether registered as a gateway, a device, or both.
    if gateways := session.scalar(select(func.count()).select_from(union(hubs, hub_devices).subquery())):
        devices[GATEWAY] = homes[("devices", GATEWAY)] = gateways
    faults: Counter[str] = Counter()
    fault_homes: defaultdict[str, set[str]] = defaultdict(set)
    for rule, kind, home_id, n in session.execute(raised_in(
            select(Alert.rule, Device.type, Alert.home_id, func.count())
            .outerjoin(Device, and_(Device.home_id == Alert.home_id, Device.device_id == Alert.device_id))
            .where(Alert.rule.in_(DEVICE_HEALTH_RULES)).group_by(Alert.rule, Device.type, Alert.home_id),
            lo, hi, district)):
        kind = GATEWAY if rule == "hub_offline" else kind or UNKNOWN
        faults[kind] += n
        fault_homes[kind].add(home_id)
    homes |= {("faults", k): len(v) for k, v in fault_homes.items()}
    rows = [DeviceFaults(device_type=k, devices=devices[k], faults=faults[k],
                         faults_per_100_devices=ratio(faults[k], devices[k], 100, 2))
            for k in sorted(set(devices) | set(faults))]
    return rows, homes
