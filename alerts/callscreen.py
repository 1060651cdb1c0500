"""What the operator needs on one screen to handle an alert's call: the person (resident cards),
who to call in order, what happened (the device and its room, the rule's reason, the home's
activity over the last hours, its recent alerts), and the call script for the kind of alarm."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import RULE_TITLES
from tecwatch.registry import cards
from tecwatch.registry.cards import CardContact, ResidentCard
from tecwatch.registry.models import Alert, Device, Home, Resident, Responder, ResponderKind
from tecwatch.settings import CallScript
from tecwatch.store import TimeSeriesStore

ACTIVITY_HOURS = 6
RECENT_ALERTS = 5


class DeviceInfo(BaseModel):
    device_id: str
    type: str
    room: str | None
    role: str | None


class HourCount(BaseModel):
    hour: datetime  # UTC start of the hour
    count: int
    rooms: list[str]  # where there was activity, busiest first


class AlertLine(BaseModel):
    """One alert in a list: what, where, when, how it ended."""

    id: int
    home_id: str
    rule: str
    title: str
    priority: int
    state: str
    outcome: str | None
    reason: str
    raised_at: datetime
    closed_at: datetime | None
    address: str
    postcode: str


class Mobile(BaseModel):
    """A mobile responder the centre can send (not one of the home's own contacts)."""

    responder_id: int
    name: str
    phones: list[str]


class CallScreen(BaseModel):
    home_id: str
    address: str
    postcode: str
    residents: list[ResidentCard]
    contacts: list[CardContact]  # the home's, in the order to call them
    mobile: list[Mobile]
    access_info_recorded: bool
    device: DeviceInfo | None
    activity: list[HourCount]  # the last hours, oldest first
    recent: list[AlertLine]  # the home's other alerts, newest first
    script: CallScript


def call_screen(session: Session, store: TimeSeriesStore, alert_id: int, script: CallScript, *,
                now: datetime) -> CallScreen:
    """Everything about alert ``alert_id``'s home and person (the alert itself is
    ``service.get_alert``). A home not enrolled in the registry gives empty cards."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    home = session.get(Home, alert.home_id)
    resident_ids = session.scalars(select(Resident.id).where(Resident.home_id == alert.home_id,
                                                             Resident.left_at.is_(None)).order_by(Resident.id)).all()
    residents = [cards.resident_card(session, rid, now=now) for rid in resident_ids]
    contacts = residents[0].contacts if residents else []
    mobile = [Mobile(responder_id=r.id, name=r.name, phones=r.phones) for r in session.scalars(
        select(Responder).where(Responder.kind == ResponderKind.MOBILE, Responder.active.is_(True)).order_by(Responder.name))
        if r.id not in {c.responder_id for c in contacts}]
    device = session.scalars(select(Device).where(Device.home_id == alert.home_id, Device.device_id == alert.device_id)
                             .order_by(Device.removed_at.is_not(None), Device.id.desc())).first() if alert.device_id else None
    return CallScreen(
        home_id=alert.home_id, address=home.address if home else "", postcode=home.postcode if home else "",
        residents=residents, contacts=contacts, mobile=mobile,
        access_info_recorded=any(r.access_info_recorded for r in residents),
        device=DeviceInfo(device_id=device.device_id, type=device.type, room=device.room,
                          role=device.role.value if device.role else None) if device else None,
        activity=recent_activity(store, alert.home_id, now),
        recent=home_alerts(session, alert.home_id, limit=RECENT_ALERTS, leave_out=alert_id, since=now - timedelta(days=90)),
        script=script)


def recent_activity(store: TimeSeriesStore, home_id: str, now: datetime, hours: int = ACTIVITY_HOURS) -> list[HourCount]:
    """Activity in each of the last ``hours`` hours (this one included), with the rooms it was in."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    by_hour: dict[datetime, dict[str, int]] = {start + timedelta(hours=n): {} for n in range(hours)}
    for c in store.activity_counts(start, end, timedelta(hours=1), home_ids=[home_id]):
        rooms = by_hour.setdefault(c.bucket_start, {})
        rooms[c.room or "unknown room"] = rooms.get(c.room or "unknown room", 0) + c.count
    return [HourCount(hour=h, count=sum(r.values()), rooms=sorted(r, key=lambda k: -r[k]))
            for h, r in sorted(by_hour.items())]


def home_alerts(session: Session, home_id: str, *, limit: int = 100, leave_out: int | None = None,
                since: datetime | None = None) -> list[AlertLine]:
    """A home's alerts, newest first."""
    q = select(Alert).where(Alert.home_id == home_id)
    if leave_out is not None:
        q = q.where(Alert.id != leave_out)
    if since is not None:
        q = q.where(Alert.raised_at >= since)
    return lines(session, session.scalars(q.order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(limit)).all())


def addresses(session: Session, home_ids: set[str]) -> dict[str, str]:
    """Each home's address and postcode in one line, for the queue."""
    if not home_ids:
        return {}
    return {h.id: ", ".join(p for p in (h.address.replace("\n", ", "), h.postcode) if p)
            for h in session.scalars(select(Home).where(Home.id.in_(sorted(home_ids))))}


def lines(session: Session, alerts: list[Alert]) -> list[AlertLine]:
    """Alerts as list lines, with their homes' addresses."""
    ids = sorted({a.home_id for a in alerts})
    homes = {h.id: h for h in session.scalars(select(Home).where(Home.id.in_(ids)))} if ids else {}
    out = []
    for a in alerts:
        home = homes.get(a.home_id)
        out.append(AlertLine(id=a.id, home_id=a.home_id, rule=a.rule, title=RULE_TITLES.get(a.rule, a.rule),
                             priority=a.priority, state=a.state.value, outcome=a.outcome.value if a.outcome else None,
                             reason=a.reason, raised_at=a.raised_at, closed_at=a.closed_at,
                             address=home.address if home else "", postcode=home.postcode if home else ""))
    return out
