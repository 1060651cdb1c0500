"""What people who are not the TEC team see of an enrolled resident.

- The resident card, for whoever handles a call (operators, responders): what helps on the
  phone and at the door, and no more: age rather than date of birth, no NHS number or council
  reference, the people to call in order (with who holds a key and who can be called now), and
  only whether access information exists (revealing it is ``accessinfo.read_access_info``).
- A family member's view of their relative's record, cut to what the resident consented to.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.orm import Session

from tecwatch.registry.changes import NotFound
from tecwatch.registry.contacts import list_contacts
from tecwatch.registry.devices import list_devices
from tecwatch.registry.fields import available
from tecwatch.registry.models import Home, Resident
from tecwatch.registry.records import HomeAccess
from tecwatch.registry.vocab import ConsentScope, Mobility, ResidentStatus, ResponderKind


class CardContact(BaseModel):
    position: int
    responder_id: int
    name: str
    kind: ResponderKind
    relation: str
    phones: list[str]
    key_holder: bool
    availability: list[dict[str, Any]]  # weekly windows, local time; empty: any time
    available_now: bool


class ResidentCard(BaseModel):
    id: int
    home_id: str
    name: str
    preferred_name: str
    age: int | None  # in years today, when the date of birth is known
    age_band: str
    phones: list[str]
    address: str
    postcode: str
    language: str
    communication_needs: list[str]
    conditions: str
    mobility: Mobility | None
    risks: list[str]
    gp_practice: str
    status: ResidentStatus
    contacts: list[CardContact]
    access_info_recorded: bool  # there is a key safe or access notes to reveal


class FamilyDevice(BaseModel):
    type: str
    room: str | None
    installed_at: datetime


class FamilyRecord(BaseModel):
    """A relative's record as a family member may see it: ``status`` needs the status scope and
    ``devices`` the devices scope (null without it)."""

    id: int
    name: str
    preferred_name: str
    home_id: str
    scope: list[ConsentScope]
    status: ResidentStatus | None
    devices: list[FamilyDevice] | None


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _resident(session: Session, resident_id: int) -> tuple[Resident, Home]:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(f"no resident {resident_id}")
    return resident, session.get(Home, resident.home_id)


def resident_card(session: Session, resident_id: int, *, now: datetime) -> ResidentCard:
    resident, home = _resident(session, resident_id)
    today = now.astimezone(ZoneInfo(home.timezone)).date()
    contacts = [CardContact(position=c.position, responder_id=c.responder.id, name=c.responder.name, kind=c.responder.kind, relation=c.relation,
                            phones=c.responder.phones, key_holder=c.key_holder, availability=c.availability,
                            available_now=available(c.availability, now, home.timezone))
                for c in list_contacts(session, resident.home_id)]
    return ResidentCard(
        id=resident.id, home_id=resident.home_id, name=resident.name, preferred_name=resident.preferred_name,
        age=age_on(resident.date_of_birth, today) if resident.date_of_birth else None, age_band=resident.dob_band,
        phones=resident.phones, address=home.address, postcode=home.postcode, language=resident.language,
        communication_needs=resident.communication_needs, conditions=resident.conditions, mobility=resident.mobility,
        risks=resident.risks, gp_practice=resident.gp_practice, status=resident.status, contacts=contacts,
        access_info_recorded=session.get(HomeAccess, resident.home_id) is not None)


def family_record(session: Session, resident_id: int, scope: set[ConsentScope]) -> FamilyRecord:
    """The record within ``scope`` (what the resident consented to; every scope for staff)."""
    resident, _home = _resident(session, resident_id)
    devices = ([FamilyDevice(type=d.type, room=d.room, installed_at=d.installed_at)
                for d in list_devices(session, resident.home_id)] if ConsentScope.DEVICES in scope else None)
    return FamilyRecord(id=resident.id, name=resident.name, preferred_name=resident.preferred_name,
                        home_id=resident.home_id, scope=[s for s in ConsentScope if s in scope],
                        status=resident.status if ConsentScope.STATUS in scope else None, devices=devices)
