"""Erasing a resident's personal data when they ask (or their record must go), while every
aggregate a commissioner reads stays as it was.

Erased: their name and date-of-birth band, the family members they shared with, and, when
nobody else lives in the home, its address, its learned routine, the notes on its alerts and
every reading the home's sensors sent. Kept, because the reports count them and they name
nobody: the home's district and postcode area, devices and their dates, alerts with their
times and outcomes, and the resident's primary need and when and why they left.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tecwatch.api.familyview import ResidentNotFound
from tecwatch.store import TimeSeriesStore
from tecwatch.registry.models import Alert, AlertEvent, FamilyConsent, Home, HomeBaseline, LeftReason, Resident

ERASED = "(erased)"


class ErasureError(ValueError):
    """The erasure cannot be done as asked (already erased, or leaving not recorded)."""


class Erased(BaseModel):
    resident_id: int
    home_id: str
    home_erased: bool  # nobody else lives there: address, routine, alert notes and readings went too
    readings_deleted: int | None  # None: the store does not say how many


def erase_resident(session: Session, store: TimeSeriesStore, resident_id: int, *, left_reason: LeftReason | None = None,
                   left_at: datetime | None = None, now: datetime | None = None) -> Erased:
    """Erase in the session's transaction; the readings go first, so a store that is down leaves
    the registry untouched and the erasure can simply be asked again."""
    now = now or datetime.now(timezone.utc)
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise ResidentNotFound(f"no resident {resident_id}")
    if resident.name == ERASED:
        raise ErasureError(f"resident {resident_id} is already erased")
    if resident.left_at is None:
        # "Still at home" counts people by when and why they left: it must be known first.
        if left_reason is None:
            raise ErasureError("they still live at home with the service: say why they left (left_reason)")
        resident.left_at, resident.left_reason = left_at or now, left_reason
    others = session.scalar(select(Resident.id).where(Resident.home_id == resident.home_id, Resident.id != resident.id,
                                                      Resident.name != ERASED).limit(1))
    deleted = None
    if others is None:
        deleted = store.delete_home(resident.home_id)
        session.get(Home, resident.home_id).address = ""
        session.execute(delete(HomeBaseline).where(HomeBaseline.home_id == resident.home_id))
        alert_ids = select(Alert.id).where(Alert.home_id == resident.home_id).scalar_subquery()
        session.execute(update(AlertEvent).where(AlertEvent.alert_id.in_(alert_ids), AlertEvent.note != "")
                        .values(note=ERASED))
    resident.name, resident.dob_band = ERASED, ""
    session.execute(delete(FamilyConsent).where(FamilyConsent.resident_id == resident.id))
    return Erased(resident_id=resident.id, home_id=resident.home_id, home_erased=others is None,
                  readings_deleted=deleted)
