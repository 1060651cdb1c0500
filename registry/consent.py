"""What a resident agreed to share with a family member (or a neighbour who looks in): recorded
with its date and who recorded it; withdrawn, it stops at once (every family read checks it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import (
    Conflict, Invalid, NotFound, audit, changed, check_version, created, flush, validated,
)
from tecwatch.registry.fields import Input, RowRef, When, vocab_list
from tecwatch.registry.models import FamilyConsent, Resident, Responder
from tecwatch.registry.vocab import ConsentScope, ResidentStatus, ResponderKind

# Who may be given a resident's information: people who know them, not services.
CONSENTING_TO = frozenset({ResponderKind.FAMILY, ResponderKind.NEIGHBOUR})


class NewConsent(Input):
    responder_id: RowRef
    scope: vocab_list(ConsentScope) = Field(min_length=1)  # type: ignore[valid-type]
    granted_at: When  # when the resident agreed


class ConsentRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    resident_id: int
    responder_id: int
    scope: list[ConsentScope]
    granted_at: datetime
    recorded_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    version: int


def grant_consent(session: Session, actor: str, resident_id: int, data: Any, *, now: datetime) -> ConsentRecord:
    """Record a consent. One consent at a time per resident and person: asking again with a
    different scope changes it (audited); the same scope changes nothing."""
    data = validated(NewConsent, data)
    if data.granted_at > now:
        raise Invalid.one("granted_at", "is in the future")
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(f"no resident {resident_id}")
    if resident.status is ResidentStatus.REMOVED:
        raise Conflict(f"resident {resident_id} was removed")
    responder = session.get(Responder, data.responder_id)
    if responder is None or not responder.active:
        raise Invalid.one("responder_id", f"there is no active responder {data.responder_id}")
    if responder.kind not in CONSENTING_TO:
        raise Invalid.one("responder_id", f"consent is given to family or neighbours, not a {responder.kind.value}")
    scope = [s.value for s in data.scope]
    current = session.scalar(select(FamilyConsent).where(FamilyConsent.resident_id == resident_id,
                                                         FamilyConsent.responder_id == responder.id,
                                                         FamilyConsent.revoked_at.is_(None)))
    if current is not None:
        diff = changed(current, {"scope": scope})
        flush(session, f"consent {current.id}")
        audit(session, actor, "update", "consent", current.id, diff, now, home_id=resident.home_id,
              resident_id=resident_id)
        return ConsentRecord.model_validate(current)
    values = {"responder_id": responder.id, "scope": scope, "granted_at": data.granted_at}
    consent = FamilyConsent(resident_id=resident_id, recorded_by=actor[:200], **values)
    session.add(consent)
    flush(session, "the consent")
    audit(session, actor, "grant", "consent", consent.id, created(values), now, home_id=resident.home_id,
          resident_id=resident_id)
    return ConsentRecord.model_validate(consent)


def withdraw_consent(session: Session, actor: str, consent_id: int, *, version: int | None = None,
                     now: datetime) -> ConsentRecord:
    """Withdrawn from ``now``: the family member's next request no longer sees the resident."""
    consent = session.get(FamilyConsent, consent_id)
    if consent is None:
        raise NotFound(f"no consent {consent_id}")
    check_version(consent, version, f"consent {consent_id}")
    if consent.revoked_at is not None:
        raise Conflict(f"consent {consent_id} was already withdrawn", consent.version)
    diff = changed(consent, {"revoked_at": now, "revoked_by": actor[:200]})
    flush(session, f"consent {consent_id}")
    resident = session.get(Resident, consent.resident_id)
    audit(session, actor, "withdraw", "consent", consent_id, diff, now, home_id=resident.home_id if resident else None,
          resident_id=consent.resident_id)
    return ConsentRecord.model_validate(consent)


def list_consents(session: Session, resident_id: int, *, include_withdrawn: bool = False) -> list[ConsentRecord]:
    if session.get(Resident, resident_id) is None:
        raise NotFound(f"no resident {resident_id}")
    q = select(FamilyConsent).where(FamilyConsent.resident_id == resident_id)
    if not include_withdrawn:
        q = q.where(FamilyConsent.revoked_at.is_(None))
    return [ConsentRecord.model_validate(c) for c in session.scalars(q.order_by(FamilyConsent.id))]


def consented_scope(session: Session, resident_id: int, responder_id: int) -> set[ConsentScope]:
    """What this person may see of this resident now (empty: nothing)."""
    scope = session.scalar(select(FamilyConsent.scope).where(FamilyConsent.resident_id == resident_id,
                                                             FamilyConsent.responder_id == responder_id,
                                                             FamilyConsent.revoked_at.is_(None)))
    return {ConsentScope(s) for s in scope or []}
