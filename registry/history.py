"""Reading the registry's audit: who changed what, when, with old and new values (secrets only
ever as "(changed)"), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import Invalid, Page
from tecwatch.registry.records import AuditEntry


class AuditRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    home_id: str | None
    resident_id: int | None
    changes: dict[str, Any]


def read_audit(session: Session, *, entity: str | None = None, entity_id: str | None = None,
               home_id: str | None = None, resident_id: int | None = None, actor: str | None = None,
               limit: int = 50, offset: int = 0) -> Page[AuditRecord]:
    """Changes matching every filter given: a kind of record (``resident``, ``device``...) and
    its id, a home, a resident, or an actor (part of the name, any case)."""
    if not 1 <= limit <= 500 or offset < 0:
        raise Invalid.one("limit", "limit is 1 to 500 and offset 0 or more")
    q = select(AuditEntry)
    if entity:
        q = q.where(AuditEntry.entity == entity)
    if entity_id:
        q = q.where(AuditEntry.entity_id == entity_id)
    if home_id:
        q = q.where(AuditEntry.home_id == home_id)
    if resident_id is not None:
        q = q.where(AuditEntry.resident_id == resident_id)
    if actor:
        q = q.where(func.lower(AuditEntry.actor).contains(actor.strip().lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)).all()
    return Page[AuditRecord](items=[AuditRecord.model_validate(r) for r in rows], total=total, limit=limit,
                             offset=offset)
