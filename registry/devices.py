"""Devices in homes, as the installer registers them: type (from the catalogue), serial, the room
(from the controlled list) and, for contact sensors, what they are fitted to; when and by whom
installed and tested (with the result); when and why removed. The rules take a device's room and
role from here, not from its messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import (
    Conflict, Invalid, NotFound, audit, changed, check_version, created, flush, member, past, validated,
)
from tecwatch.registry.fields import DeviceType, Input, When, optional_copy, vocab
from tecwatch.registry.models import Device, Home
from tecwatch.registry.vocab import (
    CONTACT_SENSOR_TYPES, ROOMLESS_TYPES, ContactRole, DeviceRemovalReason, Room, TestResult,
)

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"  # one MQTT topic level


class DevicePlace(Input):
    room: vocab(Room) | None = None  # type: ignore[valid-type]
    role: vocab(ContactRole) | None = None  # type: ignore[valid-type]


class NewDevice(DevicePlace):
    home_id: str
    type: DeviceType
    serial: str = Field(min_length=1, max_length=64)
    device_id: str | None = Field(None, pattern=DEVICE_ID_PATTERN)  # its id on MQTT; None: made from type and room
    installed_at: When
    installed_by: str = Field(min_length=1, max_length=200)


DeviceChange = optional_copy(DevicePlace, "DeviceChange", "A device's room or role, corrected.")


class DeviceRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    home_id: str
    device_id: str
    type: str
    serial: str | None
    room: str | None
    role: ContactRole | None
    installed_at: datetime
    installed_by: str
    tested_at: datetime | None
    tested_by: str | None
    test_result: TestResult | None
    test_notes: str
    removed_at: datetime | None
    removed_by: str | None
    removal_reason: DeviceRemovalReason | None
    version: int


def placement_problems(device_type: str, room: Room | None, role: ContactRole | None) -> list[tuple[str, str]]:
    problems = []
    if room is None and device_type not in ROOMLESS_TYPES:
        problems.append(("room", f"a {device_type} sensor needs the room it is fitted in"))
    if device_type in CONTACT_SENSOR_TYPES and role is None:
        problems.append(("role", f"say what the contact sensor is fitted to: {', '.join(r.value for r in ContactRole)}"))
    if device_type not in CONTACT_SENSOR_TYPES and role is not None:
        problems.append(("role", "only contact sensors have a role"))
    return problems


def make_device_id(device_type: str, room: Room | None, taken: set[str]) -> str:
    """``motion-kitchen``, then ``motion-kitchen-2``... (``taken`` gets the new id)."""
    base = f"{device_type}-{room.value}" if room else device_type
    device_id, n = base, 1
    while device_id in taken:
        n += 1
        device_id = f"{base}-{n}"
    taken.add(device_id)
    return device_id


def device_values(data: NewDevice) -> dict[str, Any]:
    return {"type": data.type, "serial": data.serial, "room": data.room.value if data.room else None,
            "role": data.role, "installed_at": data.installed_at, "installed_by": data.installed_by}


def _get(session: Session, device_pk: int) -> Device:
    device = session.get(Device, device_pk)
    if device is None:
        raise NotFound(f"no device {device_pk}")
    return device


def register_device(session: Session, actor: str, data: Any, *, now: datetime) -> DeviceRecord:
    """A device the installer has fitted (test it next with ``record_test``)."""
    data = validated(NewDevice, data)
    problems = placement_problems(data.type, data.room, data.role)
    problems += [("installed_at", "is in the future")] if data.installed_at > now else []
    if problems:
        raise Invalid(problems)
    if session.get(Home, data.home_id) is None:
        raise Invalid.one("home_id", f"there is no home {data.home_id!r}")
    fitted = session.scalar(select(Device).where(Device.serial == data.serial, Device.removed_at.is_(None)))
    if fitted is not None:
        raise Conflict(f"serial: {data.serial} is fitted at {fitted.home_id} ({fitted.device_id}); remove it there first")
    taken = set(session.scalars(select(Device.device_id).where(Device.home_id == data.home_id)))
    if data.device_id is not None and data.device_id in taken:
        raise Conflict(f"device_id: {data.home_id} already has a device {data.device_id!r}")
    device_id = data.device_id or make_device_id(data.type, data.room, taken)
    values = device_values(data)
    device = Device(home_id=data.home_id, device_id=device_id, **values)
    session.add(device)
    flush(session, "the device")
    audit(session, actor, "create", "device", device.id, created(values | {"device_id": device_id}), now,
          home_id=data.home_id)
    return DeviceRecord.model_validate(device)


def get_device(session: Session, device_pk: int) -> DeviceRecord:
    return DeviceRecord.model_validate(_get(session, device_pk))


def list_devices(session: Session, home_id: str, *, include_removed: bool = False) -> list[DeviceRecord]:
    q = select(Device).where(Device.home_id == home_id)
    if not include_removed:
        q = q.where(Device.removed_at.is_(None))
    return [DeviceRecord.model_validate(d) for d in session.scalars(q.order_by(Device.device_id, Device.id))]


def find_by_serial(session: Session, serial: str) -> DeviceRecord | None:
    """The device with this serial that is fitted now (or, if none is, the last one that was)."""
    device = session.scalars(select(Device).where(Device.serial == serial)
                             .order_by(Device.removed_at.is_not(None), Device.id.desc())).first()
    return DeviceRecord.model_validate(device) if device else None


def update_device(session: Session, actor: str, device_pk: int, change: Any, *, version: int | None,
                  now: datetime) -> DeviceRecord:
    change = validated(DeviceChange, change)
    device = _get(session, device_pk)
    check_version(device, version, f"device {device_pk}")
    if device.removed_at is not None:
        raise Conflict(f"device {device_pk} was removed")
    given = change.model_fields_set
    room = change.room if "room" in given else _room(device.room)
    role = change.role if "role" in given else device.role
    if problems := placement_problems(device.type, room, role):
        raise Invalid(problems)
    diff = changed(device, {"room": room.value if room else None, "role": role})
    flush(session, f"device {device_pk}")
    audit(session, actor, "update", "device", device_pk, diff, now, home_id=device.home_id)
    return DeviceRecord.model_validate(device)


def record_test(session: Session, actor: str, device_pk: int, *, result: TestResult | str, tested_at: datetime,
                tested_by: str | None = None, notes: str = "", version: int | None, now: datetime) -> DeviceRecord:
    """The installer's test of a fitted device (a test alarm seen at the monitoring centre...)."""
    try:
        result = TestResult(result)
    except ValueError:
        raise Invalid.one("result", "passed or failed") from None
    if tested_at.tzinfo is None:
        raise Invalid.one("tested_at", "give the time with its offset")
    device = _get(session, device_pk)
    if tested_at > now:
        raise Invalid.one("tested_at", "is in the future")
    if tested_at < device.installed_at:
        raise Invalid.one("tested_at", "is before the device was installed")
    check_version(device, version, f"device {device_pk}")
    if device.removed_at is not None:
        raise Conflict(f"device {device_pk} was removed")
    diff = changed(device, {"tested_at": tested_at, "tested_by": (tested_by or actor)[:200], "test_result": result,
                            "test_notes": notes[:4000]})
    flush(session, f"device {device_pk}")
    audit(session, actor, "test", "device", device_pk, diff, now, home_id=device.home_id)
    return DeviceRecord.model_validate(device)


def remove_device(session: Session, actor: str, device_pk: int, *, reason: DeviceRemovalReason | str,
                  removed_at: datetime, version: int | None, now: datetime) -> DeviceRecord:
    reason = member(DeviceRemovalReason, reason, "reason")
    past(removed_at, "removed_at", now)
    device = _get(session, device_pk)
    check_version(device, version, f"device {device_pk}")
    if device.removed_at is not None:
        raise Conflict(f"device {device_pk} was already removed")
    if removed_at < device.installed_at:
        raise Invalid.one("removed_at", "is before the device was installed")
    diff = changed(device, {"removed_at": removed_at, "removed_by": actor[:200], "removal_reason": reason})
    flush(session, f"device {device_pk}")
    audit(session, actor, "remove", "device", device_pk, diff, now, home_id=device.home_id)
    return DeviceRecord.model_validate(device)


def _room(text: str | None) -> Room | None:
    try:
        return Room(text) if text else None
    except ValueError:  # an older row's free text: it must be put right before anything else changes
        return None

