"""Outcomes: alerts per 100 homes, time to acknowledge, how alerts ended, whether people stay at
home, and device fault rates."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from math import floor

from pydantic import BaseModel
from sqlalchemy import and_, case, func, or_, select, union
from sqlalchemy.orm import Session

from tecwatch.api.reporting import (
    UNKNOWN, between, checked, cuts, end_of, in_district, month_periods, raised_in, ratio, spans,
)
from tecwatch.registry.models import (
    OPEN_STATES, Alert, AlertState, Device, Gateway, LeftReason, Outcome, Resident,
)

GATEWAY = "gateway"
DEVICE_HEALTH_RULES = ("device_silent", "low_battery", "hub_offline")
ACK_TARGETS_S = (60, 180)
STILL_AT_HOME_DAYS = (91, 365)


class AlertRate(BaseModel):
    month: str
    rule: str
    alerts: int
    homes_active_at_end: int
    alerts_per_100_homes: float | None


class SlowAcknowledgement(BaseModel):
    alert_id: int
    home_id: str
    rule: str
    priority: int
    raised_at: datetime
    seconds: float


class _Period(BaseModel):
    start: date | None
    end: date | None
    district: str | None


class AckSummary(_Period):
    acknowledged: int
    within_60s: int
    within_180s: int
    share_within_60s: float | None
    share_within_180s: float | None
    median_seconds: float | None
    p90_seconds: float | None
    never_acknowledged: int  # closed or cancelled without an acknowledgement; not in the shares
    awaiting_acknowledgement: int  # still open and unacknowledged; not in the shares


class AckTimes(AckSummary):
    over_3_minutes: list[SlowAcknowledgement]

    def summary(self) -> AckSummary:
        return AckSummary.model_validate(self.model_dump(exclude={"over_3_minutes"}))

    def rows(self) -> list[SlowAcknowledgement]:
        return list(self.over_3_minutes)


class OutcomeShare(BaseModel):
    outcome: Outcome
    alerts: int
    share: float | None


class OutcomeDistribution(_Period):
    resolved: int
    outcomes: list[OutcomeShare]

    def rows(self) -> list[OutcomeShare]:
        return list(self.outcomes)


class Retention(BaseModel):
    days: int
    people: int
    still_at_home: int
    share: float | None


class StillAtHome(BaseModel):
    day: date
    district: str | None
    after_91_days: Retention
    after_365_days: Retention

    def rows(self) -> list[Retention]:
        return [self.after_91_days, self.after_365_days]


class DeviceFaults(BaseModel):
    device_type: str
    devices: int
    faults: int
    faults_per_100_devices: float | None


def alerts_per_100_homes(session: Session, start: date | None = None, end: date | None = None,
                         district: str | None = None) -> list[AlertRate]:
    """One row per month and per rule seen in the range (zero where a rule had no alerts that month)."""
    months = month_periods(session, start, end)
    if not months:
        return []
    bucket = case(*[(and_(Alert.raised_at >= lo, Alert.raised_at < hi), i) for i, (_, lo, hi) in enumerate(months)],
                  else_=None).label("bucket")
    # Grouped over a subquery: PostgreSQL cannot match a GROUP BY CASE whose parameters are bound twice.
    raised = raised_in(select(bucket, Alert.rule), months[0][1], months[-1][2], district).subquery()
    counts = {(b, rule): n for b, rule, n in session.execute(
        select(raised.c.bucket, raised.c.rule, func.count()).group_by(raised.c.bucket, raised.c.rule))}
    starts, ends = spans(session, district, months[-1][2])
    out = []
    for i, (label, _, hi) in enumerate(months):
        homes = between(starts, None, hi) - between(ends, None, hi)
        out += [AlertRate(month=label, rule=rule, alerts=counts.get((i, rule), 0), homes_active_at_end=homes,
                          alerts_per_100_homes=ratio(counts.get((i, rule), 0), homes, 100, 2))
                for rule in sorted({rule for _, rule in counts})]
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default)."""
    pos = q * (len(ordered) - 1)
    lo = floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 1)


def time_to_acknowledge(session: Session, start: date | None = None, end: date | None = None,
                        district: str | None = None) -> AckTimes:
    lo, hi = cuts(start, end)
    acked = raised_in(
        select(Alert.id, Alert.home_id, Alert.rule, Alert.priority, Alert.raised_at, Alert.acknowledged_at)
        .where(Alert.acknowledged_at.is_not(None)).order_by(Alert.raised_at, Alert.id), lo, hi, district)
    seconds: list[float] = []
    slow: list[SlowAcknowledgement] = []
    for alert_id, home_id, rule, priority, raised_at, acknowledged_at in session.execute(acked):
        # Clocks can disagree a little; an acknowledgement cannot come before its alert.
        s = max(0.0, (acknowledged_at - raised_at).total_seconds())
        seconds.append(s)
        if s > ACK_TARGETS_S[1]:
            slow.append(SlowAcknowledgement(alert_id=alert_id, home_id=home_id, rule=rule, priority=priority,
                                            raised_at=raised_at, seconds=round(s, 1)))
    unacked = dict(session.execute(raised_in(
        select(Alert.state, func.count()).where(Alert.acknowledged_at.is_(None)).group_by(Alert.state),
        lo, hi, district)).all())
    ordered = sorted(seconds)
    n = len(ordered)
    within = [sum(1 for s in ordered if s <= target) for target in ACK_TARGETS_S]
    return AckTimes(
        start=start, end=end, district=district, acknowledged=n, within_60s=within[0], within_180s=within[1],
        share_within_60s=ratio(within[0], n), share_within_180s=ratio(within[1], n),
        median_seconds=_quantile(ordered, 0.5) if n else None,
        p90_seconds=_quantile(ordered, 0.9) if n else None,
        never_acknowledged=sum(unacked.get(s, 0) for s in (AlertState.RESOLVED, AlertState.CANCELLED)),
        awaiting_acknowledgement=sum(unacked.get(s, 0) for s in OPEN_STATES), over_3_minutes=slow)


def outcome_distribution(session: Session, start: date | None = None, end: date | None = None,
                         district: str | None = None) -> OutcomeDistribution:
    lo, hi = cuts(start, end)
    counts = dict(session.execute(raised_in(
        select(Alert.outcome, func.count()).where(Alert.state == AlertState.RESOLVED, Alert.outcome.is_not(None))
        .group_by(Alert.outcome), lo, hi, district)).all())
    total = sum(counts.values())
    return OutcomeDistribution(
        start=start, end=end, district=district, resolved=total,
        outcomes=[OutcomeShare(outcome=o, alerts=counts.get(o, 0), share=ratio(counts.get(o, 0), total))
                  for o in Outcome])


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
    lo, hi = cuts(start, end)
    active = [Device.installed_at < hi] if hi else []
    if lo is not None:
        active.append(or_(Device.removed_at.is_(None), Device.removed_at > lo))
    devices = Counter(dict(session.execute(in_district(
        select(Device.type, func.count()).where(*active, Device.type != GATEWAY).group_by(Device.type),
        Device.home_id, district)).all()))
    hubs = in_district(select(Gateway.home_id).where(*([Gateway.installed_at < hi] if hi else [])),
                        Gateway.home_id, district)
    hub_devices = in_district(select(Device.home_id).where(*active, Device.type == GATEWAY), Device.home_id, district)
    # One gateway per home, whether registered as a gateway, a device, or both.
    if gateways := session.scalar(select(func.count()).select_from(union(hubs, hub_devices).subquery())):
        devices[GATEWAY] = gateways
    faults: Counter[str] = Counter()
    for rule, kind, n in session.execute(raised_in(
            select(Alert.rule, Device.type, func.count())
            .outerjoin(Device, and_(Device.home_id == Alert.home_id, Device.device_id == Alert.device_id))
            .where(Alert.rule.in_(DEVICE_HEALTH_RULES)).group_by(Alert.rule, Device.type), lo, hi, district)):
        faults[GATEWAY if rule == "hub_offline" else kind or UNKNOWN] += n
    return [DeviceFaults(device_type=k, devices=devices[k], faults=faults[k],
                         faults_per_100_devices=ratio(faults[k], devices[k], 100, 2))
            for k in sorted(set(devices) | set(faults))]
