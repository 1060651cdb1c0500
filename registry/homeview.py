"""A home as the monitoring centre sees it: resident, devices and their health (battery, last
seen, hub online), open alerts, and hour-by-hour activity for the last day or week."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.alerts.health import silent_after
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID, LOW_BATTERY_PERCENT
from tecwatch.store import TimeSeriesStore
from tecwatch.registry.models import OPEN_STATES, Alert, Device, Home, Resident
from tecwatch.settings import AlertSettings

BATTERY_LOOKBACK = timedelta(days=2)  # every battery device reports at least daily


class HomeNotFound(LookupError):
    pass


class ResidentOut(BaseModel):
    id: int
    name: str
    dob_band: str
    primary_need: str


class DeviceHealth(BaseModel):
    device_id: str
    type: str
    room: str | None
    installed_at: datetime
    last_seen: datetime | None
    battery_percent: float | None
    problem: str | None  # in plain words, to follow the device's name; None when all is well


class HomeSummary(BaseModel):
    id: str
    district: str
    postcode_area: str
    open_alerts: int


class HomePage(BaseModel):
    items: list[HomeSummary]
    total: int
    limit: int
    offset: int


class HubOutbox(BaseModel):
    """What the hub still holds, from its latest heartbeat: messages waiting to be sent, those the
    broker took that the platform has not confirmed, how old the oldest is, readings dropped."""

    depth: int
    unconfirmed: int
    oldest_s: float | None
    dropped: int


class HomeDetail(BaseModel):
    id: str
    address: str
    district: str
    postcode_area: str
    residents: list[ResidentOut]
    hub_online: bool | None  # None: no hub has ever reported
    hub_last_seen: datetime | None
    hub_outbox: HubOutbox | None  # None: no heartbeat says
    devices: list[DeviceHealth]
    open_alert_ids: list[int]


class ActivityHour(BaseModel):
    hour: datetime  # UTC start of the hour
    count: int


def list_homes(session: Session, visible: set[str] | None, district: str | None = None,
               limit: int = 100, offset: int = 0) -> HomePage:
    q = select(Home)
    if visible is not None:
        q = q.where(Home.id.in_(sorted(visible)))
    if district:
        q = q.where(Home.district == district)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    homes = session.scalars(q.order_by(Home.id).limit(limit).offset(offset)).all()
    open_counts = dict(session.execute(
        select(Alert.home_id, func.count()).where(Alert.home_id.in_([h.id for h in homes]),
                                                  Alert.state.in_(OPEN_STATES)).group_by(Alert.home_id)).all())
    return HomePage(items=[HomeSummary(id=h.id, district=h.district, postcode_area=h.postcode_area,
                                       open_alerts=open_counts.get(h.id, 0)) for h in homes],
                    total=total, limit=limit, offset=offset)


def home_exists(session: Session, home_id: str) -> bool:
    return session.get(Home, home_id) is not None


def home_detail(session: Session, store: TimeSeriesStore, home_id: str, settings: AlertSettings,
                now: datetime | None = None) -> HomeDetail:
    now = now or datetime.now(timezone.utc)
    home = session.get(Home, home_id)
    if home is None:
        raise HomeNotFound(f"no home {home_id!r}")
    residents = session.scalars(select(Resident).where(Resident.home_id == home_id, Resident.left_at.is_(None))
                                .order_by(Resident.id)).all()
    devices = session.scalars(select(Device).where(Device.home_id == home_id, Device.removed_at.is_(None))
                              .order_by(Device.device_id)).all()
    seen = {d.device_id: d.last_ts for d in store.last_seen([home_id])}
    battery = _batteries(store, home_id, now)
    hub_seen = seen.get(GATEWAY_DEVICE_ID)
    heartbeat = _heartbeat(store, home_id, hub_seen)
    hub_online = None if hub_seen is None else (heartbeat.get("status") != "offline"
                                                 and now - hub_seen <= silent_after("gateway", settings))
    health = [DeviceHealth(device_id=d.device_id, type=d.type, room=d.room, installed_at=d.installed_at,
                           last_seen=seen.get(d.device_id), battery_percent=battery.get(d.device_id),
                           problem=_problem(d, seen.get(d.device_id), battery.get(d.device_id), hub_online, now, settings,
                                            ZoneInfo(home.timezone or settings.timezone)))
              for d in devices]
    open_ids = list(session.scalars(select(Alert.id).where(Alert.home_id == home_id, Alert.state.in_(OPEN_STATES))
                                    .order_by(Alert.priority, Alert.raised_at)))
    return HomeDetail(id=home.id, address=home.address, district=home.district, postcode_area=home.postcode_area,
                      residents=[ResidentOut(id=r.id, name=r.name, dob_band=r.dob_band, primary_need=r.primary_need.value)
                                 for r in residents],
                      hub_online=hub_online, hub_last_seen=hub_seen, hub_outbox=_outbox(heartbeat), devices=health,
                      open_alert_ids=open_ids)


def activity_by_hour(store: TimeSeriesStore, home_id: str, days: int, now: datetime | None = None) -> list[ActivityHour]:
    """Every hour of the last ``days`` days, empty hours included (a chart needs the gaps)."""
    now = now or datetime.now(timezone.utc)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    counts: dict[datetime, int] = {}
    for c in store.activity_counts(start, end, timedelta(hours=1), home_ids=[home_id]):
        counts[c.bucket_start] = counts.get(c.bucket_start, 0) + c.count
    hours = [start + timedelta(hours=n) for n in range(days * 24)]
    return [ActivityHour(hour=h, count=counts.get(h, 0)) for h in hours]


def _batteries(store: TimeSeriesStore, home_id: str, now: datetime) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in store.readings(home_id, now - BATTERY_LOOKBACK, now + timedelta(minutes=5), limit=100_000):
        if isinstance(r.values.get("battery"), (int, float)):
            out[r.device_id] = float(r.values["battery"])  # oldest first: the newest wins
    return out


def _heartbeat(store: TimeSeriesStore, home_id: str, hub_seen: datetime | None) -> dict:
    """The values of the hub's newest status message ({} if none)."""
    if hub_seen is None:
        return {}
    newest = store.readings(home_id, hub_seen, hub_seen + timedelta(milliseconds=1), device_id=GATEWAY_DEVICE_ID)
    return newest[-1].values if newest else {}


def _outbox(heartbeat: dict) -> HubOutbox | None:
    if "outbox_depth" not in heartbeat:
        return None
    count = lambda name: int(heartbeat.get(name) or 0)  # noqa: E731
    oldest = heartbeat.get("outbox_oldest_s")
    return HubOutbox(depth=count("outbox_depth"), unconfirmed=count("outbox_unconfirmed"),
                     oldest_s=float(oldest) if isinstance(oldest, (int, float)) else None,
                     dropped=count("outbox_dropped"))


def _problem(d: Device, last: datetime | None, battery: float | None, hub_online: bool | None,
             now: datetime, settings: AlertSettings, zone: ZoneInfo) -> str | None:
    if d.type != "gateway" and hub_online is False:
        return "cannot be heard while the hub is offline"
    if last is None:
        return "has not reported since it was installed"
    if now - last > silent_after(d.type, settings):
        return f"has been silent since {last.astimezone(zone):%d %b %H:%M}"  # the home's own time
    if battery is not None and battery <= LOW_BATTERY_PERCENT:
        return f"has a low battery ({battery:.0f}%)"
    return None
