"""Devices as the installer fits them (``registry/devices.py``): registered with their room (and,
for contact sensors, what they are fitted to), tested, corrected and removed with a reason.
Coordinators and admins change them; staff read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from tecwatch.api.deps import Editor, NowDep, SessionDep, Staff, errors
from tecwatch.api.enrolment import (
    CHANGE_ERRORS, CREATE_ERRORS, HomeId, IfMatch, Versioned, actor, etag, expected, logged, tagged, unversioned,
)
from tecwatch.registry import devices, homes
from tecwatch.registry.changes import NotFound
from tecwatch.registry.devices import DeviceChange, DeviceRecord, NewDevice
from tecwatch.registry.fields import When, vocab
from tecwatch.registry.vocab import DeviceRemovalReason, TestResult

router = APIRouter(tags=["devices"], responses=errors(401, 403, 404, 422))
DevicePk = Annotated[int, Path(ge=1, le=2**31 - 1, description="The device's number in the registry (`id` in its "
                                                                "record; not its device_id on MQTT)")]


class PlaceChange(DeviceChange, Versioned):
    """The room or role, corrected."""


class TestIn(Versioned):
    __test__ = False  # a request body, not a test case
    result: vocab(TestResult)  # type: ignore[valid-type]
    tested_at: When
    tested_by: str | None = Field(None, min_length=1, max_length=200)  # default: whoever records it
    notes: str = Field("", max_length=4000)


class DeviceRemoval(Versioned):
    reason: vocab(DeviceRemovalReason)  # type: ignore[valid-type]
    removed_at: When


@router.get("/api/homes/{home_id}/devices")
def home_devices(home_id: HomeId, request: Request, who: Staff, session: SessionDep,
                 include_removed: bool = Query(False, description="removed devices too")) -> list[DeviceRecord]:
    """The devices fitted in a home (by device_id), with when and by whom installed and tested."""
    def listing() -> list[DeviceRecord]:
        homes.get_home(session, home_id)  # a home that is not there is a 404, not an empty list
        return devices.list_devices(session, home_id, include_removed=include_removed)

    return logged(request, session, who, "read devices", listing, home_id=home_id)


@router.get("/api/devices")
def find_device(request: Request, who: Staff, session: SessionDep,
                serial: str = Query(min_length=1, max_length=64, pattern=r"^[^\x00]*$")) -> DeviceRecord:
    """The device with this serial that is fitted now (or else the last that was)."""
    def find() -> DeviceRecord:
        found = devices.find_by_serial(session, serial)
        if found is None:
            raise NotFound(f"no device with serial {serial!r}")
        return found

    return logged(request, session, who, "find device", find)


@router.post("/api/devices", status_code=201, responses=CREATE_ERRORS | tagged(201))
def register_device(body: NewDevice, request: Request, response: Response, who: Editor, session: SessionDep,
                    at: NowDep) -> DeviceRecord:
    """A device the installer has fitted: type, serial, room (and role for a door sensor), when
    and by whom. Its device_id is made from type and room unless given."""
    out = logged(request, session, who, "register device",
                 lambda: devices.register_device(session, actor(who), body, now=at), home_id=body.home_id)
    response.headers["Location"] = f"/api/devices/{out.id}"
    etag(response, out.version)
    return out


@router.get("/api/devices/{device_pk}", responses=tagged())
def get_device(device_pk: DevicePk, request: Request, response: Response, who: Staff,
               session: SessionDep) -> DeviceRecord:
    out = logged(request, session, who, "read device", lambda: devices.get_device(session, device_pk))
    etag(response, out.version)
    return out


@router.patch("/api/devices/{device_pk}", responses=CHANGE_ERRORS | tagged())
def update_device(device_pk: DevicePk, body: PlaceChange, request: Request, response: Response, who: Editor,
                  session: SessionDep, at: NowDep, if_match: IfMatch = None) -> DeviceRecord:
    """Correct the room or role."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "update device",
                 lambda: devices.update_device(session, actor(who), device_pk, unversioned(body, DeviceChange),
                                               version=version, now=at))
    etag(response, out.version)
    return out


@router.post("/api/devices/{device_pk}/test", responses=CHANGE_ERRORS | tagged())
def record_test(device_pk: DevicePk, body: TestIn, request: Request, response: Response, who: Editor,
                session: SessionDep, at: NowDep, if_match: IfMatch = None) -> DeviceRecord:
    """The installation test's result (passed or failed), when, by whom, with notes."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "test device",
                 lambda: devices.record_test(session, actor(who), device_pk, result=body.result,
                                             tested_at=body.tested_at, tested_by=body.tested_by, notes=body.notes,
                                             version=version, now=at))
    etag(response, out.version)
    return out


@router.post("/api/devices/{device_pk}/removal", responses=CHANGE_ERRORS | tagged())
def remove_device(device_pk: DevicePk, body: DeviceRemoval, request: Request, response: Response, who: Editor,
                  session: SessionDep, at: NowDep, if_match: IfMatch = None) -> DeviceRecord:
    """Take a device out of service, saying why (faulty, replaced, no_longer_needed,
    resident_left, declined, lost) and when."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "remove device",
                 lambda: devices.remove_device(session, actor(who), device_pk, reason=body.reason,
                                               removed_at=body.removed_at, version=version, now=at))
    etag(response, out.version)
    return out
