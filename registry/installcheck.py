"""The install checklist: the installer triggers each fitted device in turn and watches its test
event arrive. A device's first trigger (a press, movement, a door opening...) since the
checklist opened is its test: it is recorded as passed (``devices.record_test``), with who ran
the checklist. The events are read from the time-series store, where ingest puts them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.orm import Session

from tecwatch.devices import Reading
from tecwatch.devices.catalogue import DEVICE_TYPES, GATEWAY_DEVICE_ID
from tecwatch.registry import devices, homes
from tecwatch.registry.changes import Invalid
from tecwatch.registry.vocab import TestResult
from tecwatch.store import TimeSeriesStore

# A hub whose clock runs a little behind ours stamps a press made just after the checklist opened
# with a time just before it; ingest accepts such times, so the checklist does too.
HUB_CLOCK_SLACK = timedelta(seconds=30)
# Device times may also run ahead (ingest accepts up to its max_future_s, 5 minutes by default).
AHEAD = timedelta(minutes=10)
# A checklist left open longer than this is reloaded, so each poll reads a bounded span.
LONGEST_OPEN = timedelta(hours=12)
READ_LIMIT = 20_000

# What the installer does to make each kind of device send its test event.
INSTRUCTION = {
    "pendant": "Press the pendant's button",
    "fall_detector": "Press the fall detector's test button",
    "motion": "Walk in front of the sensor",
    "door": "Open the door",
    "bed": "Sit on the bed, then stand up",
    "chair": "Sit in the chair, then stand up",
    "temperature": "Wait for its next reading (a few minutes)",
    "plug": "Switch on what is plugged in (a kettle)",
    "leak": "Touch the probes with a wet finger",
    "smoke": "Press and hold the test button",
    "flush": "Flush the toilet",
}
# What the test event was, as the checklist and its announcements say it.
WHAT = {"pendant": "Pendant pressed", "fall_detector": "Fall detector triggered", "motion": "Movement seen",
        "door": "Door opened", "bed": "Bed sensor reported", "chair": "Chair sensor reported",
        "temperature": "Temperature reported", "plug": "Power use seen", "leak": "Water detected",
        "smoke": "Smoke alarm tested", "flush": "Flush heard"}


class DeviceCheck(BaseModel):
    id: int
    device_id: str
    type: str
    label: str  # the catalogue's name for the type
    room: str | None
    instruction: str
    what: str  # "Pendant pressed in the lounge"
    received_at: datetime | None  # the first trigger since the checklist opened
    tested_at: datetime | None
    tested_by: str | None
    test_result: TestResult | None
    tested_here: bool  # passed from this checklist's events
    version: int


class Checklist(BaseModel):
    home_id: str
    timezone: str
    since: datetime
    hub_last_seen: datetime | None
    devices: list[DeviceCheck]

    def local(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.timezone))


def is_trigger(reading: Reading) -> bool:
    """Whether a reading is the device being set off (not a routine check-in): its type's
    alarm, cancel or activity conditions; for a type with none (temperature), any reading."""
    dt = DEVICE_TYPES.get(reading.device_type)
    if dt is None:
        return False
    conditions = dt.alarm_when + dt.cancel_when + dt.activity_when
    return not conditions or any(c.holds(reading.values) for c in conditions)


def describe(device_type: str, room: str | None) -> str:
    where = f" in the {room.replace('_', ' ')}" if room else ""
    return f"{WHAT.get(device_type, 'Reported')}{where}"


def checklist(session: Session, store: TimeSeriesStore, home_id: str, since: datetime, now: datetime) -> Checklist:
    """The home's fitted devices, each with its first trigger at or after ``since`` (when the
    checklist opened). Raises ``NotFound`` (no such home) or ``Invalid`` (``since`` unusable)."""
    if since.tzinfo is None or since > now + HUB_CLOCK_SLACK:
        raise Invalid.one("since", "the checklist's opening time is not a past time with its offset")
    if now - since > LONGEST_OPEN:
        raise Invalid.one("since", "the checklist has been open too long: reload it")
    home = homes.get_home(session, home_id)
    fitted = [d for d in devices.list_devices(session, home_id) if d.type != "gateway"]
    first: dict[str, datetime] = {}
    for r in store.readings(home_id, since - HUB_CLOCK_SLACK, now + AHEAD, limit=READ_LIMIT):
        if r.device_id not in first and is_trigger(r):
            first[r.device_id] = r.ts
    hub = [s.last_ts for s in store.last_seen([home_id]) if s.device_id == GATEWAY_DEVICE_ID]
    checks = []
    for d in fitted:
        tested_here = (d.test_result is TestResult.PASSED and d.tested_at is not None
                       and d.tested_at >= since - HUB_CLOCK_SLACK)
        dt = DEVICE_TYPES.get(d.type)
        checks.append(DeviceCheck(
            id=d.id, device_id=d.device_id, type=d.type, label=dt.label if dt else d.type, room=d.room,
            instruction=INSTRUCTION.get(d.type, "Set it off"), what=describe(d.type, d.room),
            received_at=first.get(d.device_id), tested_at=d.tested_at, tested_by=d.tested_by,
            test_result=d.test_result, tested_here=tested_here, version=d.version))
    return Checklist(home_id=home_id, timezone=home.timezone, since=since, hub_last_seen=hub[0] if hub else None,
                     devices=checks)


def record_received(session: Session, actor: str, found: Checklist, now: datetime) -> Checklist:
    """Record a passed test for each device whose test event has arrived and is not yet
    recorded; ``actor`` is who ran the checklist. A racing recorder is a ``Conflict``."""
    updated = []
    for check in found.devices:
        if check.received_at is None or check.tested_here:
            updated.append(check)
            continue
        record = devices.get_device(session, check.id)
        # A test time the service accepts: not before the fitting, not ahead of our clock.
        tested_at = max(record.installed_at, min(check.received_at, now))
        done = devices.record_test(session, actor, check.id, result=TestResult.PASSED, tested_at=tested_at,
                                   tested_by=actor, notes=f"install checklist: {check.what.lower()}",
                                   version=check.version, now=now)
        updated.append(check.model_copy(update={"tested_at": done.tested_at, "tested_by": done.tested_by,
                                                "test_result": done.test_result, "tested_here": True,
                                                "version": done.version}))
    return found.model_copy(update={"devices": updated})
