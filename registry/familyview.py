"""'Is Dad OK?': a resident's day in plain words for the family members they consented to share
it with: last activity, whether today looks like the usual routine, open alerts, device
problems, and a week of activity."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.alerts.baseline import DEFAULT_WAKE, Baselines, hhmm, learn
from tecwatch.alerts.measures import WAKE_SEARCH
from tecwatch.alerts.patterns import due_from, evaluate
from tecwatch.alerts.rules import title
from tecwatch.alerts.signals import STATE_LOOKBACK, Fitted, align, empty, signals_from_readings
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
    base = session.get(HomeBaseline, resident.home_id)
    up_by = base.up_by_min if base is not None else DEFAULT_WAKE
    # When the not_up rule itself would call it a worry (the same function it uses).
    due = float(due_from(up_by, base.wake_median_min if base is not None else DEFAULT_WAKE))

    # One read serves both the last sign of life and the rule.
    readings = store.readings(resident.home_id, now - max(RECENT, QUIET_WINDOW + STATE_LOOKBACK),
                              now + timedelta(minutes=5), limit=100_000)
    signs = [r.ts for r in readings if r.activity and r.ts >= now - RECENT]
    last = max(signs, default=None)
    local_now = now.astimezone(zone)
    morning = datetime.combine(local_now.date(), time(WAKE_SEARCH[0] // 60), tzinfo=zone)
    up_since = min((t for t in signs if t >= morning), default=None)
    minute_now = local_now.hour * 60 + local_now.minute
    concerns: list[str] = []
    if up_since is not None:
        today = f"Up and about since {up_since.astimezone(zone):%H:%M} (usually up by {hhmm(up_by)})."
    elif local_now >= morning and minute_now > due:
        today = f"No sign of getting up yet today; usually up by {hhmm(up_by)}."
        concerns.append(today)
    else:
        today = f"Not up yet; usually up by {hhmm(up_by)}."
    if last is not None and _quiet_too_long(session, readings, resident.home_id, zone.key, base, now):
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
        last_activity=last, today=today, routine_learned=bool(base is not None and base.learned),
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


def _quiet_too_long(session: Session, readings: list[Reading], home_id: str, zone: str,
                    saved: HomeBaseline | None, now: datetime) -> bool:
    """Whether the alert service's own no_activity rule holds now: the same rule code, on the same
    folded readings, judged by the limits last night's learning saved for the home. ``readings``
    go back QUIET_WINDOW and STATE_LOOKBACK from ``now``."""
    end = align(now, BUCKET) + BUCKET
    start = align(now - QUIET_WINDOW, BUCKET)
    devices = session.execute(select(Device.device_id, Device.room, Device.role)
                              .where(Device.home_id == home_id, Device.removed_at.is_(None)))
    fitted = {(home_id, d): Fitted(room, role.value if role is not None else None) for d, room, role in devices}
    signals = signals_from_readings(readings, [home_id], start, end, fitted=fitted)
    if saved is not None and saved.limits:
        base = Baselines.from_values(home_id, zone, saved.limits)
    else:  # nothing learned yet: the defaults, as the service's learning gives them
        base = learn(empty([home_id], start, end, BUCKET), zone)
    return any(a.rule == "no_activity" for a in evaluate(signals, base, now))
