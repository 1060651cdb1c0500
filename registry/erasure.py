"""Erasing a resident's personal data when they ask (or their record must go), while every
aggregate a commissioner reads stays as it was.

Always erased: their name, preferred name, references (the council's and the NHS number), date
of birth and its band, phones, language, communication needs, health, risks, GP practice and
review dates, their family consents, the values in the registry audit of changes to them (who
changed which field, and when, stays), and every mention of their full name in the free text of
any alert (notes, reasons, notification errors, escalation chain names).

When nobody else lives in the home, the home goes too, from every store:

- the readings in the time-series store (deleted first: a store that is down leaves the
  registry as it was, and the erasure can simply be asked again);
- the day cache of signals (``<data_dir>/signals``) the API process can reach; an alert worker
  with a data directory of its own drops the home at its next learning (see the scheduler);
- in the registry, in one transaction: its dead letters (raw payloads), learned baselines, rule
  episodes, alarm receipts, access information (key safe) and list of people to call are
  deleted; the values in the audit of changes to the home and its records are blanked; its address, the notes, reasons and details of its
  alerts, their notification errors and its escalation chains' names are blanked, and so is
  every mention of the address or its postcode in any alert's text.

Kept, because the commissioners' reports count them and they name nobody once the home's id is
gone: the home's district, postcode area, time zone and start, its devices and gateway with
their dates, its alerts' times, priorities, rules and outcomes, and each resident's primary need
and when and why they left (with their workflow status and referral source). All of these move to a new opaque id (``erased-`` and random hex) in
every registry table, so no row still carries the home's real id, and no table keeps which
pseudonym replaced which id.

Not touched: the access log (``access_log``), the accountability record of who read whose data
and who erased it; it keeps the real home and resident ids, and is append-only.

SQLite keeps copies of deleted rows in its files: once the erasure commits, a SQLite registry is
rebuilt and its log emptied, as the SQLite store is when it deletes a home.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import JSON, String, Table, bindparam, delete, event, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tecwatch.db import purge_deleted
from tecwatch.ingest.deadletter import forget_home_letters
from tecwatch.registry.models import (
    Alert, AlertEvent, Base, EscalationChain, FamilyConsent, Gateway, Home, LeftReason, Notification, Resident,
)
from tecwatch.registry.records import AuditEntry
from tecwatch.store import StoreUnavailable, TimeSeriesStore

if TYPE_CHECKING:
    from tecwatch.alerts.signalcache import DayCache

log = logging.getLogger(__name__)

ERASED = "(erased)"
PSEUDONYM_PREFIX = "erased-"
# Rows that only describe the home's data (its routine, its rules' state, alarms seen): gone.
_FORGET = frozenset({"home_baselines", "rule_episodes", "alarm_receipts", "home_access", "home_contacts"})
# A resident's details that name or describe them, and what each becomes.
_PERSONAL = MappingProxyType({
    "name": ERASED, "preferred_name": "", "council_ref": None, "nhs_number": None, "date_of_birth": None, "dob_band": "",
    "phones": [], "language": "", "communication_needs": [], "conditions": "", "medication": "", "allergies": "",
    "mobility": None, "risks": [], "gp_practice": "", "referral_date": None, "last_review_on": None,
    "next_review_on": None})
# The accountability record is kept as it is (see the module's docstring).
_KEEP = frozenset({"access_log"})
# UK postcodes (the full one, not the area kept for reports), as they appear in an address.
_POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b", re.IGNORECASE)
# Free text that people or devices wrote about an alert: it may name anyone.
_FREE_TEXT = ((AlertEvent, "note"), (Alert, "reason"), (Notification, "last_error"), (EscalationChain, "name"))
# Objects loaded in the session are expired after the bulk changes instead.
_NO_SYNC = {"synchronize_session": False}


class NoSuchResident(LookupError):
    """There is no resident with that id."""


class ErasureError(ValueError):
    """The erasure cannot be done as asked (already erased, or leaving not recorded)."""


class Erased(BaseModel):
    resident_id: int
    home_id: str
    home_erased: bool  # nobody else lives there: the home's data went from every store too
    readings_deleted: int | None  # None: the store does not say how many


def erase_resident(session: Session, store: TimeSeriesStore, resident_id: int, *, day_cache: DayCache | None = None,
                   left_reason: LeftReason | None = None, left_at: datetime | None = None,
                   now: datetime | None = None) -> Erased:
    """Erase in the session's transaction (the caller commits). The readings and the day cache go
    first: deleting them again does no harm, so when either fails the registry is left as it was
    and the erasure can be asked again."""
    now = now or datetime.now(timezone.utc)
    resident = session.get(Resident, resident_id, with_for_update=True)
    if resident is None:
        raise NoSuchResident(f"no resident {resident_id}")
    if resident.name == ERASED:
        raise ErasureError(f"resident {resident_id} is already erased")
    if resident.left_at is None:
        # "Still at home" counts people by when and why they left: it must be known first.
        if left_reason is None:
            raise ErasureError("they still live at home with the service: say why they left (left_reason)")
        resident.left_at, resident.left_reason = left_at or now, left_reason
    home_id, name = resident.home_id, resident.name
    others = session.scalar(select(Resident.id).where(Resident.home_id == home_id, Resident.id != resident.id,
                                                      Resident.name != ERASED).limit(1))
    mentions = [name]
    deleted = None
    if others is None:
        deleted = store.delete_home(home_id)
        if day_cache is not None:
            try:
                day_cache.forget_home(home_id)
            except OSError as err:
                raise StoreUnavailable(f"the day cache {day_cache.directory} could not be rewritten: {err}") from err
        home = session.get(Home, home_id)
        mentions += [home.address, *_POSTCODE.findall(home.address), home.postcode]
    for field, blank in _PERSONAL.items():
        setattr(resident, field, blank)
    session.execute(delete(FamilyConsent).where(FamilyConsent.resident_id == resident.id))
    _blank_audit(session, AuditEntry.resident_id == resident.id)
    session.flush()
    if others is None:
        _pseudonymise_home(session, home_id)
    _scrub_mentions(session, mentions)
    session.expire_all()  # the rows changed underneath the objects loaded above
    _purge_after_commit(session)
    return Erased(resident_id=resident_id, home_id=home_id, home_erased=others is None, readings_deleted=deleted)


def _pseudonymise_home(session: Session, home_id: str) -> str:
    """Move everything the reports count to a new opaque id, forget the rest, and drop the home's
    row with its address. Tables added later that name a home by ``home_id`` move too."""
    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(8)
    home = session.get(Home, home_id)
    session.add(Home(id=pseudonym, address="", postcode="", district=home.district, postcode_area=home.postcode_area,
                     timezone=home.timezone, created_at=home.created_at))
    session.flush()  # the new home exists before rows refer to it
    for table in _home_tables():
        if table.name in _FORGET:
            session.execute(delete(table).where(table.c.home_id == home_id))
        elif table.name not in _KEEP:
            session.execute(update(table).where(table.c.home_id == home_id).values(home_id=pseudonym))
    session.execute(delete(Home).where(Home.id == home_id))
    forget_home_letters(session.connection(), home_id)

    alerts = select(Alert.id).where(Alert.home_id == pseudonym).scalar_subquery()
    for stmt in (
        update(AlertEvent).where(AlertEvent.alert_id.in_(alerts), AlertEvent.note != "").values(note=ERASED),
        # What the home's devices said (values, thresholds learned from its routine) goes with its readings.
        update(Alert).where(Alert.home_id == pseudonym).values(reason=ERASED, detail={}),
        update(Notification).where(Notification.alert_id.in_(alerts), Notification.last_error != "")
        .values(last_error=ERASED),
        update(EscalationChain).where(EscalationChain.home_id == pseudonym).values(name=ERASED),
        update(AuditEntry).where(AuditEntry.entity.in_(("home", "access_info")), AuditEntry.entity_id == home_id)
        .values(entity_id=pseudonym),
        # A gateway's broker login is named after its home (gw-<home>).
        update(Gateway).where(Gateway.home_id == pseudonym)
        .values(broker_username=func.replace(Gateway.broker_username, home_id, pseudonym)),
    ):
        session.execute(stmt, execution_options=_NO_SYNC)
    # The audit keeps who changed which field and when, not the values (an address, a serial...).
    _blank_audit(session, AuditEntry.home_id == pseudonym)
    return pseudonym


def _blank_audit(session: Session, *where) -> None:
    """Replace every old and new value in these audit rows; the field names stay."""
    rows = session.execute(select(AuditEntry.id, AuditEntry.changes).where(*where)).all()
    table = AuditEntry.__table__
    blanked = [{"row_id": row_id, "blank": {field: {"old": ERASED, "new": ERASED} for field in changes or {}}}
               for row_id, changes in rows]
    if blanked:
        session.execute(update(table).where(table.c.id == bindparam("row_id"))
                        .values(changes=bindparam("blank", type_=JSON)), blanked)


def _home_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if "home_id" in t.c]


def _scrub_mentions(session: Session, words: list[str]) -> None:
    """Replace each of ``words`` (a name, an address) wherever alert text mentions it, in any home."""
    words = [w.strip() for w in words if len(w.strip()) >= 3]  # shorter would blank ordinary words
    if not words:
        return
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    for model, column in _FREE_TEXT:
        text = getattr(model, column)
        # lower() on both sides: LIKE is case-sensitive on PostgreSQL. The pattern decides for sure.
        hits = or_(*(func.lower(text, type_=String).contains(w.lower(), autoescape=True) for w in words))
        for row_id, value in session.execute(select(model.id, text).where(hits)).all():
            scrubbed = pattern.sub(ERASED, value)
            if scrubbed != value:
                session.execute(update(model).where(model.id == row_id).values({column: scrubbed}),
                                execution_options=_NO_SYNC)


def _purge_after_commit(session: Session) -> None:
    """SQLite keeps copies of deleted rows in its files until they are rebuilt: do that once the
    erasure commits (see ``tecwatch.db.purge_deleted``)."""
    engine = session.get_bind().engine
    if engine.dialect.name != "sqlite":
        return

    def purge(_session: Session) -> None:
        try:
            emptied = purge_deleted(engine)
        except OperationalError as err:  # committed already: say so rather than fail the request
            log.warning("erasure committed, but the registry file could not be rebuilt: %s", err)
            return
        if not emptied:
            log.warning("erasure committed, but readers kept the registry's write-ahead log from being emptied; "
                        "it is emptied at the next checkpoint")

    event.listen(session, "after_commit", purge, once=True)
