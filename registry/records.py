"""Enrolment tables beside the core registry: a home's sealed access information, the people to
call for a home (in order, with when they can be called), and the audit of every change made to
the registry's records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tecwatch.registry.base import Base


class HomeAccess(Base):
    """How to get in: key-safe location and code, other access notes. Only a Fernet token of
    them is stored (``registry/accessinfo.py``); the key is a setting, never in the database."""

    __tablename__ = "home_access"
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class HomeContact(Base):
    """Someone to call for a home (family, a neighbour, the mobile responder service), in order.
    ``availability`` is a list of weekly windows ({"days": ["mon", ...], "start": "09:00",
    "end": "17:00"}); empty means any time."""

    __tablename__ = "home_contacts"
    __table_args__ = (UniqueConstraint("home_id", "responder_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[str] = mapped_column(ForeignKey("homes.id"), index=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id"), index=True)
    position: Mapped[int]
    relation: Mapped[str] = mapped_column(String(60), default="")  # "daughter", "neighbour"...
    key_holder: Mapped[bool] = mapped_column(default=False)
    availability: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class AuditEntry(Base):
    """One change to one registry record: who, when, which fields, old and new values
    (``{"field": {"old": ..., "new": ...}}``); secrets appear only as "(changed)". Append-only."""

    __tablename__ = "registry_audit"
    __table_args__ = (Index("ix_registry_audit_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # create, update, status, review, remove, end, grant...
    entity: Mapped[str] = mapped_column(String(40))  # resident, home, device, responder, contact, chain...
    entity_id: Mapped[str] = mapped_column(String(64))
    home_id: Mapped[str | None] = mapped_column(String(64), index=True)
    resident_id: Mapped[int | None] = mapped_column(index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
