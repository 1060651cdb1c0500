"""Who an account is in the registry: the responder record a family member's or responder's
account is linked to (a family member sees the residents who consented to share with that
record), chosen from lists of names so that nobody needs a database id from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.api.access import UserError
from tecwatch.api.accounts import NoSuchAccount
from tecwatch.registry import consent, contacts
from tecwatch.registry.models import FamilyConsent, Home, Resident, Responder, ResponderKind, User, UserRole
from tecwatch.registry.records import HomeContact

KIND_WORDS = {ResponderKind.FAMILY: "family", ResponderKind.NEIGHBOUR: "neighbour",
              ResponderKind.MOBILE: "mobile responder", ResponderKind.OPERATOR: "monitoring centre"}
NEW_RECORD = "new"  # the form's choice: a new family record named as the account


@dataclass(frozen=True)
class Choice:
    id: int
    label: str
    group: str = ""


@dataclass(frozen=True)
class Link:
    """What an account stands for: its responder record and the residents that record may see."""

    username: str
    responder_id: int | None
    responder: str  # the record's name, "" if none
    residents: list[str]  # names of the residents who consented to share with it


def responder_choices(session: Session) -> list[Choice]:
    """Every active responder record, grouped by kind, each with the homes it is a contact for."""
    homes: dict[int, list[str]] = {}
    q = (select(HomeContact.responder_id, Resident.name).join(Resident, Resident.home_id == HomeContact.home_id)
         .where(HomeContact.ended_at.is_(None), Resident.left_at.is_(None)).order_by(Resident.name))
    for responder_id, name in session.execute(q):
        homes.setdefault(responder_id, []).append(name)
    out = []
    for r in session.scalars(select(Responder).where(Responder.active.is_(True)).order_by(Responder.kind, Responder.name)):
        contact_for = f", contact for {', '.join(homes[r.id])}" if r.id in homes else ""
        out.append(Choice(r.id, f"{r.name}{contact_for}", KIND_WORDS.get(r.kind, r.kind.value)))
    return out


def resident_choices(session: Session) -> list[Choice]:
    """Residents still with the service, by name, with their address to tell namesakes apart."""
    q = (select(Resident.id, Resident.name, Home.address).join(Home, Home.id == Resident.home_id)
         .where(Resident.left_at.is_(None)).order_by(Resident.name, Resident.id))
    return [Choice(rid, f"{name} ({address})" if address else name) for rid, name, address in session.execute(q)]


def links(session: Session) -> dict[str, Link]:
    """Every account's link, by username."""
    names = dict(session.execute(select(Responder.id, Responder.name)).all())
    sees: dict[int, list[str]] = {}
    q = (select(FamilyConsent.responder_id, Resident.name).join(Resident, Resident.id == FamilyConsent.resident_id)
         .where(FamilyConsent.revoked_at.is_(None)).order_by(Resident.name))
    for responder_id, name in session.execute(q):
        sees.setdefault(responder_id, []).append(name)
    return {u.username: Link(u.username, u.responder_id, names.get(u.responder_id, ""), sees.get(u.responder_id, []))
            for u in session.scalars(select(User))}


def new_family_record(session: Session, actor: str, name: str, now: datetime) -> int:
    """A responder record for a family member who has none yet (their account's link)."""
    return contacts.create_responder(session, actor, {"name": name, "kind": ResponderKind.FAMILY.value}, now=now).id


def link_responder(session: Session, username: str, responder_id: int | None) -> Link:
    """Link an account to a responder record (None: to none; a family member's must have one)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NoSuchAccount(f"no user {username!r}")
    if responder_id is None and UserRole(user.role) is UserRole.FAMILY:
        raise UserError("a family member's account must be linked to their responder record")
    if responder_id is not None:
        responder = session.get(Responder, responder_id)
        if responder is None or not responder.active:
            raise UserError(f"there is no active responder {responder_id}")
    user.responder_id = responder_id
    session.flush()
    return links(session)[username]


def share_resident(session: Session, actor: str, username: str, resident_id: int, scope: list[str], *,
                   now: datetime) -> consent.ConsentRecord:
    """Record that a resident agreed to share ``scope`` with this family member's record (the
    consent service checks the resident and the record, and audits it)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NoSuchAccount(f"no user {username!r}")
    if user.responder_id is None:
        raise UserError("link the account to a responder record first")
    return consent.grant_consent(session, actor, resident_id,
                                 {"responder_id": user.responder_id, "scope": scope, "granted_at": now}, now=now)
