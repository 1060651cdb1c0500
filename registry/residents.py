"""Residents through the TEC workflow: referral -> assessment -> installation -> monitoring ->
removal (with why). Their details, reviews and search. Every change is audited.

Reports keep using the five-year age band (``dob_band``), worked out from the date of birth
whenever it is recorded or changed. Removal records the reason as given (``removal_reason``) and
what it means for the still-at-home report (``left_reason``, see ``vocab.LEFT_REASON``); when the
last resident of a home leaves, its devices are removed with them.
"""

from __future__ import annotations

from datetime import date, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import (
    Conflict, Invalid, NotFound, Page, audit, changed, check_version, created, flush, member, past, validated,
)
from tecwatch.registry.fields import (
    LOCAL_ZONE, Input, Name, NhsNumber, Note, Phone, dob_band, nhs_number, optional_copy, postcode, vocab, vocab_list,
)
from tecwatch.registry.homes import HomeIn, HomeRecord, add_home
from tecwatch.registry.models import Device, Home, Resident
from tecwatch.registry.vocab import (
    LEFT_REASON, WORKFLOW, CommunicationNeed, DeviceRemovalReason, Mobility, PrimaryNeed, ReferralSource,
    RemovalReason, ResidentStatus, Risk,
)

# Dates that cannot be later than today.
PAST_DATES = ("date_of_birth", "referral_date")
UNIQUE = ("council_ref", "nhs_number")
_DEVICE_REASON = MappingProxyType({RemovalReason.DECLINED: DeviceRemovalReason.DECLINED,
                  RemovalReason.NO_LONGER_NEEDED: DeviceRemovalReason.NO_LONGER_NEEDED})


class ResidentFields(Input):
    name: Name  # full name
    preferred_name: str = Field("", max_length=100)
    council_ref: str | None = Field(None, min_length=1, max_length=40)  # the council's own reference
    nhs_number: NhsNumber | None = None
    date_of_birth: date | None = None
    phones: list[Phone] = Field(default_factory=list, max_length=5)
    language: str = Field("", max_length=60)
    communication_needs: vocab_list(CommunicationNeed) = Field(default_factory=list)  # type: ignore[valid-type]
    conditions: Note = ""
    medication: Note = ""
    allergies: Note = ""
    mobility: vocab(Mobility) | None = None  # type: ignore[valid-type]
    risks: vocab_list(Risk) = Field(default_factory=list)  # type: ignore[valid-type]
    gp_practice: str = Field("", max_length=200)
    primary_need: vocab(PrimaryNeed) = PrimaryNeed.OTHER  # type: ignore[valid-type]
    referral_source: vocab(ReferralSource) | None = None  # type: ignore[valid-type]
    referral_date: date | None = None
    next_review_on: date | None = None


class NewResident(ResidentFields):
    """A resident and where they live: a new home (``home``) or one already enrolled (``home_id``,
    e.g. the second of a couple)."""

    status: vocab(ResidentStatus) = ResidentStatus.REFERRAL  # type: ignore[valid-type]
    home_id: str | None = None
    home: HomeIn | None = None

    @model_validator(mode="after")
    def _one_home(self) -> NewResident:
        if (self.home_id is None) == (self.home is None):
            raise ValueError("give either home (a new home's address) or home_id (an enrolled home)")
        if self.status is ResidentStatus.REMOVED:
            raise ValueError("a resident is removed through removal, which records why")
        return self


ResidentChange = optional_copy(ResidentFields, "ResidentChange",
                               "Fields of a resident to change; only those given change (null clears).")
_REQUIRED = ("name", "primary_need")  # may change, may not be cleared


class ResidentRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    home_id: str
    name: str
    preferred_name: str
    council_ref: str | None
    nhs_number: str | None
    date_of_birth: date | None
    dob_band: str
    phones: list[str]
    language: str
    communication_needs: list[str]
    conditions: str
    medication: str
    allergies: str
    mobility: Mobility | None
    risks: list[str]
    gp_practice: str
    primary_need: PrimaryNeed
    referral_source: ReferralSource | None
    referral_date: date | None
    status: ResidentStatus
    last_review_on: date | None
    next_review_on: date | None
    left_at: datetime | None
    removal_reason: RemovalReason | None
    version: int
    home: HomeRecord


class ResidentSummary(BaseModel):
    id: int
    name: str
    preferred_name: str
    home_id: str
    postcode: str
    district: str
    status: ResidentStatus
    next_review_on: date | None
    version: int


def local_today(now: datetime) -> date:
    return now.astimezone(ZoneInfo(LOCAL_ZONE)).date()


def future_dates(data: BaseModel, today: date) -> list[tuple[str, str]]:
    return [(f, "is in the future") for f in PAST_DATES
            if getattr(data, f, None) is not None and getattr(data, f) > today]


def resident_values(data: BaseModel, today: date, fields: set[str] | None = None) -> dict[str, Any]:
    """Stored columns for the given input fields (all of them when ``fields`` is None)."""
    names = fields if fields is not None else set(ResidentFields.model_fields)
    values = {f: getattr(data, f) for f in ResidentFields.model_fields if f in names}
    for f in ("phones", "communication_needs", "risks"):
        if f in values:
            values[f] = [str(v) for v in values[f] or []]
    for f in ("preferred_name", "language", "conditions", "medication", "allergies", "gp_practice"):
        if f in values and values[f] is None:
            values[f] = ""
    if "date_of_birth" in values:
        values["dob_band"] = dob_band(values["date_of_birth"], today) if values["date_of_birth"] else ""
    return values


def _unique(session: Session, values: dict[str, Any], resident_id: int | None) -> None:
    for field in UNIQUE:
        if values.get(field) is None:
            continue
        other = session.scalar(select(Resident.id).where(getattr(Resident, field) == values[field]))
        if other is not None and other != resident_id:
            raise Conflict(f"{field}: resident {other} already has this {field.replace('_', ' ')}")


def _get(session: Session, resident_id: int) -> Resident:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(f"no resident {resident_id}")
    return resident


def _record(resident: Resident) -> ResidentRecord:
    return ResidentRecord.model_validate(resident)


def create_resident(session: Session, actor: str, data: Any, *, now: datetime) -> ResidentRecord:
    data = validated(NewResident, data)
    today = local_today(now)
    if problems := future_dates(data, today):
        raise Invalid(problems)
    values = resident_values(data, today)
    _unique(session, values, None)
    if data.home is not None:
        home_id = add_home(session, actor, data.home, now=now).id
    elif session.get(Home, data.home_id) is None:
        raise Invalid.one("home_id", f"there is no home {data.home_id!r}")
    else:
        home_id = data.home_id
    resident = Resident(home_id=home_id, status=data.status, **values)
    session.add(resident)
    flush(session, "the resident")
    audit(session, actor, "create", "resident", resident.id, created(values | {"status": data.status}), now,
          home_id=home_id, resident_id=resident.id)
    return _record(resident)


def get_resident(session: Session, resident_id: int) -> ResidentRecord:
    return _record(_get(session, resident_id))


def update_resident(session: Session, actor: str, resident_id: int, change: Any, *, version: int | None,
                    now: datetime) -> ResidentRecord:
    change = validated(ResidentChange, change)
    resident = _get(session, resident_id)
    check_version(resident, version, f"resident {resident_id}")
    given = change.model_fields_set
    problems = [(f, "may not be empty") for f in _REQUIRED if f in given and getattr(change, f) is None]
    problems += future_dates(change, local_today(now))
    if problems:
        raise Invalid(problems)
    values = resident_values(change, local_today(now), given)
    _unique(session, values, resident_id)
    diff = changed(resident, values)
    flush(session, f"resident {resident_id}")
    audit(session, actor, "update", "resident", resident_id, diff, now, home_id=resident.home_id,
          resident_id=resident_id)
    return _record(resident)


def set_status(session: Session, actor: str, resident_id: int, status: ResidentStatus | str, *,
               version: int | None, now: datetime) -> ResidentRecord:
    """Move a resident on through the workflow (forward only: removal is ``remove_resident``)."""
    status = member(ResidentStatus, status, "status")
    resident = _get(session, resident_id)
    check_version(resident, version, f"resident {resident_id}")
    if status is ResidentStatus.REMOVED:
        raise Invalid.one("status", "a resident is removed through removal, which records why")
    if resident.status is ResidentStatus.REMOVED:
        raise Conflict(f"resident {resident_id} was removed; refer them again as a new resident")
    if WORKFLOW.index(status) < WORKFLOW.index(resident.status):
        raise Invalid.one("status", f"the workflow goes forward: {resident.status.value} cannot go back to {status.value}")
    diff = changed(resident, {"status": status})
    flush(session, f"resident {resident_id}")
    audit(session, actor, "status", "resident", resident_id, diff, now, home_id=resident.home_id,
          resident_id=resident_id)
    return _record(resident)


def record_review(session: Session, actor: str, resident_id: int, *, reviewed_on: date,
                  next_review_on: date | None, version: int | None, now: datetime) -> ResidentRecord:
    today = local_today(now)
    problems = [("reviewed_on", "is in the future")] if reviewed_on > today else []
    if next_review_on is not None and next_review_on <= reviewed_on:
        problems.append(("next_review_on", "must be after the review"))
    if problems:
        raise Invalid(problems)
    resident = _get(session, resident_id)
    check_version(resident, version, f"resident {resident_id}")
    diff = changed(resident, {"last_review_on": reviewed_on, "next_review_on": next_review_on})
    flush(session, f"resident {resident_id}")
    audit(session, actor, "review", "resident", resident_id, diff, now, home_id=resident.home_id,
          resident_id=resident_id)
    return _record(resident)


def remove_resident(session: Session, actor: str, resident_id: int, *, reason: RemovalReason | str,
                    left_at: datetime, version: int | None, now: datetime) -> ResidentRecord:
    """End a resident's service, saying why. When nobody else at the home still has the service,
    its devices are removed at the same time."""
    reason = member(RemovalReason, reason, "reason")
    past(left_at, "left_at", now)
    resident = _get(session, resident_id)
    check_version(resident, version, f"resident {resident_id}")
    if resident.status is ResidentStatus.REMOVED:
        raise Conflict(f"resident {resident_id} was already removed")
    diff = changed(resident, {"status": ResidentStatus.REMOVED, "left_at": left_at, "left_reason": LEFT_REASON[reason],
                              "removal_reason": reason})
    flush(session, f"resident {resident_id}")
    audit(session, actor, "remove", "resident", resident_id, diff, now, home_id=resident.home_id,
          resident_id=resident_id)
    others = session.scalar(select(func.count()).select_from(Resident).where(
        Resident.home_id == resident.home_id, Resident.id != resident_id, Resident.left_at.is_(None)))
    if not others:
        device_reason = _DEVICE_REASON.get(reason, DeviceRemovalReason.RESIDENT_LEFT)
        for device in session.scalars(select(Device).where(Device.home_id == resident.home_id,
                                                           Device.removed_at.is_(None))):
            d = changed(device, {"removed_at": max(left_at, device.installed_at), "removed_by": actor[:200],
                                 "removal_reason": device_reason})
            audit(session, actor, "remove", "device", device.id, d, now, home_id=device.home_id)
        flush(session, f"the devices of home {resident.home_id}")
    return _record(resident)


def search_residents(session: Session, *, name: str | None = None, postcode_prefix: str | None = None,
                     home_id: str | None = None, nhs: str | None = None, council_ref: str | None = None,
                     status: ResidentStatus | None = None, review_due_by: date | None = None,
                     limit: int = 50, offset: int = 0) -> Page[ResidentSummary]:
    """Residents matching every filter given: part of a name (full or preferred, any case), the
    start of a postcode, a home, an NHS number (any spacing), a council reference, a status, or a
    review due on or before a date. Ordered by name."""
    if not 1 <= limit <= 500 or offset < 0:
        raise Invalid.one("limit", "limit is 1 to 500 and offset 0 or more")
    q = select(Resident, Home).join(Home, Home.id == Resident.home_id)
    if name:
        words = name.strip().lower()
        q = q.where(or_(func.lower(Resident.name).contains(words, autoescape=True),
                        func.lower(Resident.preferred_name).contains(words, autoescape=True)))
    if postcode_prefix:
        try:
            prefix = postcode(postcode_prefix)
        except ValueError:
            prefix = postcode_prefix.strip().upper()
        q = q.where(Home.postcode.startswith(prefix, autoescape=True))
    if home_id:
        q = q.where(Resident.home_id == home_id)
    if nhs:
        try:
            q = q.where(Resident.nhs_number == nhs_number(nhs))
        except ValueError as err:
            raise Invalid.one("nhs_number", str(err)) from None
    if council_ref:
        q = q.where(Resident.council_ref == council_ref.strip())
    if status:
        q = q.where(Resident.status == ResidentStatus(status))
    if review_due_by:
        q = q.where(Resident.next_review_on <= review_due_by, Resident.status != ResidentStatus.REMOVED)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.execute(q.order_by(func.lower(Resident.name), Resident.id).limit(limit).offset(offset)).all()
    return Page[ResidentSummary](
        items=[ResidentSummary(id=r.id, name=r.name, preferred_name=r.preferred_name, home_id=r.home_id,
                               postcode=h.postcode, district=h.district, status=r.status,
                               next_review_on=r.next_review_on, version=r.version) for r, h in rows],
        total=total, limit=limit, offset=offset)
