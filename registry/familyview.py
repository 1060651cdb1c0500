"""'Is Dad OK?': a resident's day in plain words for the family members they consented to share
it with: last activity, whether today looks like the usual routine, open alerts, device
problems, and a week of activity."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.alerts.baseline import WEEKDAYS, WEEKENDS, Baselines, hhmm, learn, weekend
from tecwatch.alerts.measures import WAKE_LEAD, WAKE_SEARCH, clock, day_marks, sustained, up_signs
from tecwatch.alerts.patterns import evaluate
from tecwatch.alerts.rules import title
from tecwatch.alerts.signals import STATE_LOOKBACK, Fitted, Signals, align, empty, signals_from_readings
from tecwatch.devices import Reading
from tecwatch.registry.homeview import ActivityHour, activity_by_hour, home_detail
from tecwatch.store import TimeSeriesStore
from tecwatch.registry.models import OPEN_STATES, Alert, AlertEvent, Device, Home, HomeBaseline, Resident
from tecwatch.settings import AlertSettings

RECENT = timedelta(hours=48)  # how far back to look for the last sign of life
BUCKET = timedelta(minutes=5)  # as the alert service folds readings
# no_activity judges a spell that began after getting up today: the last 30 hours hold it, and
# the state sensors' readings from STATE_LOOKBACK before say whether a bed or chair was in use.
QUIET_WINDOW = timedelta(hours=30)
DEVICE_NAMES = {
    "motion": "motion sensor", "door": "door sensor", "bed": "bed sensor", "chair": "chair sensor",
    "temperature": "temperature sensor", "plug": "smart plug", "leak": "leak sensor", "smoke": "smoke alarm",
    "flush": "toilet flush sensor",
    "pendant": "pendant alarm", "fall_detector": "fall detector", "gateway": "hub",
}


class ResidentNotFound(LookupError):
    pass


class FamilyResident(BaseModel):
    id: int
    name: str
    home_id: str


class ResidentPage(BaseModel):
    items: list[FamilyResident]
    total: int
    limit: int
    offset: int


class AlertBrief(BaseModel):
    id: int
    title: str
    state: str
    raised_at: datetime
    acknowledged_by: str | None
    # True once monitoring-centre staff have acknowledged it or logged a call for it; until then
    # (a family member's acknowledgement included) it is waiting for the monitoring centre.
    centre_on_it: bool = False


class Status(BaseModel):
    resident_id: int
    name: str
    home_id: str
    level: Literal["ok", "check", "alert"]  # all well / worth a look / an alert is open
    headline: str
    last_activity: datetime | None
    today: str  # e.g. "Up and about since 07:45 (usually up by 08:10)."
    routine_learned: bool
    open_alerts: list[AlertBrief]
    device_problems: list[str]
    activity: list[ActivityHour]  # the last 7 days, hour by hour


def list_residents(session: Session, visible: set[int] | None, limit: int = 100, offset: int = 0) -> ResidentPage:
    q = select(Resident).where(Resident.left_at.is_(None))
    if visible is not None:
        q = q.where(Resident.id.in_(sorted(visible)))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(Resident.id).limit(limit).offset(offset)).all()
    return ResidentPage(items=[FamilyResident(id=r.id, name=r.name, home_id=r.home_id) for r in rows],
                        total=total, limit=limit, offset=offset)


def resident_home(session: Session, resident_id: int, visible: set[int] | None) -> str:
    resident = session.get(Resident, resident_id)
    if resident is None or (visible is not None and resident_id not in visible):
        raise ResidentNotFound(f"no resident {resident_id}")  # the same answer either way
    return resident.home_id


def status(session: Session, store: TimeSeriesStore, resident_id: int, settings: AlertSettings,
           now: datetime | None = None) -> Status:
    now = now or datetime.now(timezone.utc)
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise ResidentNotFound(f"no resident {resident_id}")
    home = session.get(Home, resident.home_id)
    zone = ZoneInfo(home.timezone if home else settings.timezone)
    first_name = resident.name.split()[0] if resident.name else "They"
    saved = session.get(HomeBaseline, resident.home_id)

    # One read serves the last sign of life and the rules; what came after ``now`` is not known yet.
    readings = [r for r in store.readings(resident.home_id, now - max(RECENT, QUIET_WINDOW + STATE_LOOKBACK),
                                          now + timedelta(minutes=5), limit=100_000) if r.ts <= now]
    signs = [r.ts for r in readings if r.activity and r.ts >= now - RECENT]
    last = max(signs, default=None)
    # The alert service's own rules, on the same folded readings, judged by the limits last
    # night's learning saved for the home: the page never tells the family something the
    # monitoring centre's rules would not.
    signals = _fold(session, readings, resident.home_id, now)
    base = _judged_by(saved, resident.home_id, zone.key, signals)
    holding = {a.rule for a in evaluate(signals, base, now)}
    local_now = now.astimezone(zone)
    up_by = _up_by_text(base, local_now)
    up_since = _up_since(signals, base, readings, now)
    morning = datetime.combine(local_now.date(), time(WAKE_SEARCH[0] // 60), tzinfo=zone)
    concerns: list[str] = []
    if up_since is not None:
        today = f"Up and about since {up_since.astimezone(zone):%H:%M} (usually up by {up_by})."
    elif "not_up" in holding or (local_now.hour * 60 + local_now.minute >= WAKE_SEARCH[1]
                                 and not any(t >= morning for t in signs)):
        today = f"No sign of getting up yet today; usually up by {up_by}."
        concerns.append(today)
    else:
        today = f"Not up yet; usually up by {up_by}."
    if last is not None and "no_activity" in holding:
        concerns.append(f"Quiet since {last.astimezone(zone):%H:%M}, which is longer than usual at this time of day.")

    alerts = session.scalars(select(Alert).where(Alert.home_id == resident.home_id, Alert.state.in_(OPEN_STATES))
                             .order_by(Alert.priority, Alert.raised_at)).all()
    detail = home_detail(session, store, resident.home_id, settings, now)
    if detail.hub_online is False:  # that explains every sensor's silence: say it once
        problems = ["The hub is offline, so the sensors cannot be heard."]
    else:
        problems = [f"The {d.room + ' ' if d.room else ''}{DEVICE_NAMES.get(d.type, d.type)} {d.problem}."
                    for d in detail.devices if d.problem]
    level: Literal["ok", "check", "alert"] = "alert" if alerts else "check" if concerns or problems else "ok"
    briefs = [AlertBrief(id=a.id, title=title(a.rule), state=a.state.value,
                         raised_at=a.raised_at, acknowledged_by=a.acknowledged_by, centre_on_it=_centre_on_it(session, a))
              for a in alerts]
    if level == "alert":
        headline = (f"{first_name} has an alert open: the monitoring centre is dealing with it."
                    if all(b.centre_on_it for b in briefs) else
                    f"{first_name} has an alert open: waiting for the monitoring centre.")
    elif level == "check":
        headline = f"Worth a look: {(concerns or problems)[0]}"
    else:
        headline = f"{first_name} seems fine: today looks like a usual day."
    return Status(
        resident_id=resident.id, name=resident.name, home_id=resident.home_id, level=level, headline=headline,
        last_activity=last, today=today, routine_learned=bool(saved is not None and saved.learned),
        open_alerts=briefs,
        device_problems=problems, activity=activity_by_hour(store, resident.home_id, 7, now),
    )


# Trail entries that show the monitoring centre (or a responder it sent) has the alert in hand,
# when made by a staff account ("jo (operator)"), not a family member or an acknowledge link.
CENTRE_KINDS = ("acknowledged", "call", "attend")
CENTRE_ACTORS = ("(operator)", "(responder)", "(coordinator)", "(admin)")


def _centre_on_it(session: Session, alert: Alert) -> bool:
    actors = session.scalars(select(AlertEvent.actor).where(AlertEvent.alert_id == alert.id,
                                                            AlertEvent.kind.in_(CENTRE_KINDS)))
    return any(actor.endswith(CENTRE_ACTORS) for actor in actors)


def _fold(session: Session, readings: list[Reading], home_id: str, now: datetime) -> Signals:
    """The readings of the last QUIET_WINDOW folded as the alert service folds them, with each
    device's room and role from the registry. ``readings`` go back STATE_LOOKBACK further."""
    devices = session.execute(select(Device.device_id, Device.room, Device.role)
                              .where(Device.home_id == home_id, Device.removed_at.is_(None)))
    fitted = {(home_id, d): Fitted(room, role.value if role is not None else None) for d, room, role in devices}
    return signals_from_readings(readings, [home_id], align(now - QUIET_WINDOW, BUCKET), align(now, BUCKET) + BUCKET,
                                 fitted=fitted)


def _judged_by(saved: HomeBaseline | None, home_id: str, zone: str, signals: Signals) -> Baselines:
    """The limits the alert service judges the home by: those last night's learning saved, else
    the defaults (as its learning gives them), with the wake times of a routine saved before
    limits were (they are what the family has been shown)."""
    if saved is not None and saved.limits:
        return Baselines.from_values(home_id, zone, saved.limits)
    base = learn(empty([home_id], signals.start, signals.end, BUCKET), zone)
    if saved is None:
        return base
    up_by, usual = np.array([saved.up_by_min]), np.array([saved.wake_median_min])
    return replace(base, wake_p90=up_by, wake_median=usual, wake_p90_by_kind=np.repeat(up_by[:, None], 2, axis=1),
                   wake_median_by_kind=np.repeat(usual[:, None], 2, axis=1))


def _up_by_text(base: Baselines, local_now: datetime) -> str:
    """The usual latest wake time for today, saying which days it is for when weekday and
    weekend mornings are judged apart."""
    kind = int(weekend(np.array(local_now.weekday())))
    up_by = hhmm(float(base.wake_p90_by_kind[0, kind]))
    if abs(float(base.wake_p90_by_kind[0, WEEKDAYS] - base.wake_p90_by_kind[0, WEEKENDS])) < 1:
        return up_by
    return f"{up_by} {'at weekends' if kind == WEEKENDS else 'on weekdays'}"


def _up_since(signals: Signals, base: Baselines, readings: list[Reading], now: datetime) -> datetime | None:
    """When they got up today, measured as the not_up rule and the learning measure it (sustained
    movement, the front door, the kitchen, the chair; a night trip to the bathroom is not getting
    up), as the time of the first sign of life in the activity that showed it; None if not yet."""
    if not signals.n_buckets:
        return None
    clk = clock(signals, base.zones[0])
    wake, _bed = day_marks(up_signs(signals, sustained(signals.activity())), clk)
    now_b = min(signals.index_of(now), signals.n_buckets - 1)
    w = int(wake[0, clk.day[now_b]])
    if w < 0 or w > now_b:
        return None
    lo = signals.time_of(max(w - WAKE_LEAD, clk.at(int(clk.day[now_b]), WAKE_SEARCH[0])))
    first = [r.ts for r in readings if r.activity and lo <= r.ts < signals.time_of(w + 1)]
    return min(first, default=signals.time_of(w))
