"""A resident's week for their family: each local day's signs of activity, split by kind (sleep,
kitchen, bathroom, going out, elsewhere at home) from the room and role of the device that saw
them, with today marked as a day so far."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.models import Device
from tecwatch.registry.vocab import ContactRole, Room
from tecwatch.store import TimeSeriesStore

KINDS = ("sleep", "kitchen", "bathroom", "going_out", "elsewhere")
KIND_LABELS = {"sleep": "Bed and bedroom", "kitchen": "Kitchen", "bathroom": "Bathroom", "going_out": "Going out",
               "elsewhere": "Elsewhere at home"}
SLEEP_ROOMS = {Room.BEDROOM.value, Room.SECOND_BEDROOM.value}
KITCHEN_ROOMS = {Room.KITCHEN.value}
BATHROOM_ROOMS = {Room.BATHROOM.value, Room.TOILET.value}
KITCHEN_ROLES = {ContactRole.FRIDGE.value, ContactRole.CUPBOARD.value}
OUTSIDE_ROLES = {ContactRole.ENTRANCE_DOOR.value, ContactRole.BACK_DOOR.value}
# What one count is, in words for the page.
UNIT = ("Each count is one time a sensor noticed someone: a movement in a room, a door or the fridge "
        "opened, an appliance switched on, getting into or out of bed. It is not steps or minutes: "
        "compare days with each other.")


class DayActivity(BaseModel):
    day: date  # in the home's time zone
    so_far: bool  # today: the day is not over
    counts: dict[str, int]  # by kind, every kind present
    total: int


def kind_of(device_type: str, room: str | None, role: str | None) -> str:
    if role in OUTSIDE_ROLES:
        return "going_out"
    if role in KITCHEN_ROLES or room in KITCHEN_ROOMS:
        return "kitchen"
    if room in BATHROOM_ROOMS:
        return "bathroom"
    if device_type == "bed" or room in SLEEP_ROOMS:
        return "sleep"
    return "elsewhere"


def week(session: Session, store: TimeSeriesStore, home_id: str, zone: ZoneInfo, now: datetime,
         days: int = 7) -> list[DayActivity]:
    """The last ``days`` local days, oldest first, today (so far) last; every day is listed."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    devices = {d.device_id: d for d in session.scalars(select(Device).where(Device.home_id == home_id))}
    counts = {first + timedelta(days=n): dict.fromkeys(KINDS, 0) for n in range(days)}
    in_bed: dict[str, object] = {}  # a bed sensor's last state: only a change is movement
    for r in store.readings(home_id, start, now + timedelta(minutes=5), limit=200_000):
        device = devices.get(r.device_id)
        room = device.room if device is not None and device.room else r.room
        role = device.role.value if device is not None and device.role is not None else None
        if r.device_type == "bed":
            state, before = r.values.get("occupancy"), in_bed.get(r.device_id)
            in_bed[r.device_id] = state
            moved = before is not None and state != before
        else:
            moved = r.activity
        day = r.ts.astimezone(zone).date()
        if moved and day in counts:
            counts[day][kind_of(r.device_type, room, role)] += 1
    return [DayActivity(day=d, so_far=d == today, counts=c, total=sum(c.values())) for d, c in counts.items()]
