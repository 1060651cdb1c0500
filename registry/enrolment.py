"""One resident's enrolment at a glance, for the coordinators' pages: their record, who else
lives at the home, its devices, the people to call, its escalation chains (and the county
default they fall back on), consents and whether access information is recorded. Each part
comes from the service that owns it."""

from __future__ import annotations

from pydantic import BaseModel

from sqlalchemy.orm import Session

from tecwatch.registry import accessinfo, chains, consent, contacts, devices, residents
from tecwatch.registry.accessinfo import AccessInfoStatus
from tecwatch.registry.chains import ChainRecord
from tecwatch.registry.consent import ConsentRecord
from tecwatch.registry.contacts import ContactRecord, ResponderRecord
from tecwatch.registry.devices import DeviceRecord
from tecwatch.registry.residents import ResidentRecord, ResidentSummary
from tecwatch.registry.vocab import ResponderKind

# Who may be a step of any home's chain without being one of its contacts: services, not people.
SERVICE_KINDS = (ResponderKind.OPERATOR, ResponderKind.MOBILE)


class Overview(BaseModel):
    resident: ResidentRecord
    housemates: list[ResidentSummary]  # others at the same home, removed ones included
    devices: list[DeviceRecord]  # fitted now
    removed_devices: list[DeviceRecord]
    contacts: list[ContactRecord]
    chains: list[ChainRecord]  # the home's own
    default_chains: list[ChainRecord]  # the county's, used when the home has none for the time
    consents: list[ConsentRecord]
    access: AccessInfoStatus

    def responder_name(self, responder_id: int) -> str:
        for c in self.contacts:
            if c.responder.id == responder_id:
                return c.responder.name
        return f"responder {responder_id}"


def overview(session: Session, resident_id: int) -> Overview:
    """Raises ``NotFound`` for no such resident."""
    resident = residents.get_resident(session, resident_id)
    home_id = resident.home_id
    everyone = residents.search_residents(session, home_id=home_id, limit=500).items
    fitted = devices.list_devices(session, home_id, include_removed=True)
    return Overview(
        resident=resident, housemates=[r for r in everyone if r.id != resident_id],
        devices=[d for d in fitted if d.removed_at is None], removed_devices=[d for d in fitted if d.removed_at],
        contacts=contacts.list_contacts(session, home_id), chains=chains.list_chains(session, home_id),
        default_chains=chains.list_chains(session, None), consents=consent.list_consents(session, resident_id),
        access=accessinfo.access_info_status(session, home_id))


def service_responders(session: Session) -> list[ResponderRecord]:
    """The monitoring centre and mobile responders: steps any home's chain may have."""
    found: list[ResponderRecord] = []
    for kind in SERVICE_KINDS:
        found += contacts.search_responders(session, kind=kind, limit=100).items
    return found
