"""The family page's week split by kind of activity, from a real store and registry at fixed
moments: local days (across the clock change), today as a day so far, each device's room and role
deciding its kind, and a bed sensor counted when its state changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tecwatch.devices import Channel, make_reading
from tecwatch.registry import familyweek
from tecwatch.registry.models import Device
from tecwatch.registry.vocab import ContactRole
from tecwatch.store.sqlite import SQLiteStore

from apisupport import T_INSTALL, seed_cast

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 29, 9, 0, tzinfo=timezone.utc)  # 10:00 BST, the morning the clocks went forward


def reading(device: str, kind: str, at: datetime, room: str | None, **values):
    return make_reading(home_id="home-1", device_id=device, device_type=kind, channel=Channel.READING, ts=at,
                        seq=None, room=room, values=values)


def test_a_week_by_kind(registry, tmp_path):
    seed_cast(registry)
    with Session(registry) as s, s.begin():
        for device, kind, room, role in (("pir-kitchen", "motion", "kitchen", None), ("pir-bath", "motion", "bathroom", None),
                                         ("door-front", "door", "hall", ContactRole.ENTRANCE_DOOR),
                                         ("fridge", "door", "kitchen", ContactRole.FRIDGE), ("bed", "bed", "bedroom", None)):
            s.add(Device(home_id="home-1", device_id=device, type=kind, room=room, role=role, installed_at=T_INSTALL))
    store = SQLiteStore(tmp_path / "readings.db")
    sat = datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc)  # Saturday noon (GMT)
    store.write([
        reading("pir-kitchen", "motion", sat, "kitchen", occupancy=True),
        reading("pir-kitchen", "motion", sat + timedelta(minutes=5), "kitchen", occupancy=False),  # no movement
        reading("fridge", "door", sat, "kitchen", contact=False),  # opened
        reading("door-front", "door", sat + timedelta(hours=2), "hall", contact=False),
        reading("door-front", "door", sat + timedelta(hours=2, minutes=1), "hall", contact=True),  # closed: not counted
        reading("pir-lounge", "motion", sat, "lounge", occupancy=True),
        reading("bed", "bed", datetime(2026, 3, 28, 22, 0, tzinfo=timezone.utc), "bedroom", occupancy=False),
        reading("bed", "bed", datetime(2026, 3, 28, 22, 30, tzinfo=timezone.utc), "bedroom", occupancy=True),  # in
        reading("bed", "bed", datetime(2026, 3, 28, 23, 30, tzinfo=timezone.utc), "bedroom", occupancy=True),  # same
        reading("bed", "bed", datetime(2026, 3, 29, 6, 40, tzinfo=timezone.utc), "bedroom", occupancy=False),  # up
        reading("pir-bath", "motion", datetime(2026, 3, 29, 6, 45, tzinfo=timezone.utc), "bathroom", occupancy=True),
        reading("pir-bath", "motion", datetime(2026, 3, 21, 23, 30, tzinfo=timezone.utc), "bathroom", occupancy=True),
    ])
    with Session(registry) as s:
        days = familyweek.week(s, store, "home-1", LONDON, NOW)
    store.close()
    assert [d.day.isoformat() for d in days] == [f"2026-03-{n}" for n in range(23, 30)]
    assert [d.so_far for d in days] == [False] * 6 + [True]
    saturday, sunday = days[-2], days[-1]
    assert saturday.counts == {"sleep": 1, "kitchen": 2, "bathroom": 0, "going_out": 1, "elsewhere": 1}
    assert sunday.counts == {"sleep": 1, "kitchen": 0, "bathroom": 1, "going_out": 0, "elsewhere": 0}
    assert (saturday.total, sunday.total) == (5, 2)
    assert sum(d.total for d in days[:-2]) == 0, "21 March 23:30 is before the week"
