"""Responders (family, neighbours, the mobile responder service, the monitoring centre), how to
notify them (contact routes), and who to call for each home: in what order, their relation,
whether they hold a key, and when they can be called."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from tecwatch.registry.changes import (
    Conflict, Invalid, NotFound, Page, VersionConflict, audit, changed, check_version, created, flush, plain,
    validated,
)
from tecwatch.registry.fields import Input, Name, Phone, RowRef, Window, optional_copy, vocab
from tecwatch.registry.models import ContactRoute, Home, Responder
from tecwatch.registry.records import HomeContact
from tecwatch.registry.vocab import ResponderKind


class RouteIn(Input):
    kind: Literal["apprise", "webhook"]
    target: str = Field(min_length=3, max_length=2000)  # an apprise URL, or the webhook's https URL


class ResponderFields(Input):
    name: Name
    kind: vocab(ResponderKind)  # type: ignore[valid-type]
    phones: list[Phone] = Field(default_factory=list, max_length=5)
    routes: list[RouteIn] = Field(default_factory=list, max_length=10)  # in order: the first is tried first


ResponderChange = optional_copy(ResponderFields, "ResponderChange", "A responder's fields to change.")


class RouteRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    target: str
    priority: int


class ResponderRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: ResponderKind
    phones: list[str]
    active: bool
    routes: list[RouteRecord]
    version: int


class ContactFields(Input):
    position: int | None = Field(None, ge=1, le=100)  # None: after the others
    relation: str = Field("", max_length=60)
    key_holder: bool = False
    availability: list[Window] = Field(default_factory=list, max_length=14)  # empty: any time


class NewContact(ContactFields):
    responder_id: RowRef


ContactChange = optional_copy(ContactFields, "ContactChange", "A home contact's fields to change.")


class ContactRef(Input):
    id: RowRef
    version: RowRef  # as read: a contact changed since is a conflict


class ContactOrder(Input):
    """Every current contact of a home, in the order to call them."""

    contacts: list[ContactRef] = Field(min_length=1, max_length=100)


class ContactRecord(BaseModel):
    id: int
    home_id: str
    responder: ResponderRecord
    position: int
    relation: str
    key_holder: bool
    availability: list[dict[str, Any]]
    ended_at: datetime | None
    version: int


def _responder(session: Session, responder_id: int) -> Responder:
    responder = session.get(Responder, responder_id)
    if responder is None:
        raise NotFound(f"no responder {responder_id}")
    return responder


def _responder_record(session: Session, responder: Responder) -> ResponderRecord:
    session.expire(responder, ["routes"])  # routes change through set_routes, below the relationship
    return ResponderRecord.model_validate(responder)


def set_routes(session: Session, responder: Responder, routes: list[RouteIn], now: datetime) -> dict[str, Any]:
    """Make the responder's routes these, in order. Routes are changed in place and the surplus
    retired (notifications already sent name them); the audit's change, if any."""
    current = list(session.scalars(select(ContactRoute).where(ContactRoute.responder_id == responder.id,
                                                              ContactRoute.retired_at.is_(None))
                                   .order_by(ContactRoute.priority, ContactRoute.id)))
    before = [{"kind": r.kind, "target": r.target} for r in current]
    after = [{"kind": r.kind, "target": r.target} for r in routes]
    if before == after:
        return {}
    for n, want in enumerate(routes):
        if n < len(current):
            current[n].kind, current[n].target, current[n].priority = want.kind, want.target, n
        else:
            session.add(ContactRoute(responder_id=responder.id, kind=want.kind, target=want.target, priority=n))
    for surplus in current[len(routes):]:
        surplus.retired_at = now
    # Route targets can hold tokens (an SMS gateway's key): the audit says what kind, not where.
    return {"routes": {"old": [r["kind"] for r in before], "new": [r["kind"] for r in after]}}


def create_responder(session: Session, actor: str, data: Any, *, now: datetime) -> ResponderRecord:
    data = validated(ResponderFields, data)
    values = {"name": data.name, "kind": data.kind, "phones": list(data.phones)}
    responder = Responder(active=True, **values)
    session.add(responder)
    flush(session, "the responder")
    route_change = set_routes(session, responder, data.routes, now)
    session.flush()
    audit(session, actor, "create", "responder", responder.id, created(values) | route_change, now)
    return _responder_record(session, responder)


def get_responder(session: Session, responder_id: int) -> ResponderRecord:
    return _responder_record(session, _responder(session, responder_id))


def update_responder(session: Session, actor: str, responder_id: int, change: Any, *, version: int | None,
                     now: datetime) -> ResponderRecord:
    change = validated(ResponderChange, change)
    responder = _responder(session, responder_id)
    check_version(responder, version, f"responder {responder_id}")
    given = change.model_fields_set
    if problems := [(f, "may not be empty") for f in ("name", "kind") if f in given and getattr(change, f) is None]:
        raise Invalid(problems)
    values = {f: getattr(change, f) for f in ("name", "kind") if f in given}
    if "phones" in given:
        values["phones"] = list(change.phones or [])
    diff = changed(responder, values)
    if "routes" in given:
        diff |= set_routes(session, responder, change.routes or [], now)
        if diff.get("routes"):
            flag_modified(responder, "phones")  # the routes are the responder's too: its version moves
    flush(session, f"responder {responder_id}")
    audit(session, actor, "update", "responder", responder_id, diff, now)
    return _responder_record(session, responder)


def end_responder(session: Session, actor: str, responder_id: int, *, version: int | None,
                  now: datetime) -> ResponderRecord:
    """No longer a responder: kept for the alerts that named them, left out of new contacts."""
    responder = _responder(session, responder_id)
    check_version(responder, version, f"responder {responder_id}")
    diff = changed(responder, {"active": False})
    flush(session, f"responder {responder_id}")
    audit(session, actor, "end", "responder", responder_id, diff, now)
    return _responder_record(session, responder)


def search_responders(session: Session, *, name: str | None = None, kind: ResponderKind | None = None,
                      active: bool | None = True, limit: int = 50, offset: int = 0) -> Page[ResponderRecord]:
    if not 1 <= limit <= 500 or offset < 0:
        raise Invalid.one("limit", "limit is 1 to 500 and offset 0 or more")
    q = select(Responder)
    if name:
        q = q.where(func.lower(Responder.name).contains(name.strip().lower(), autoescape=True))
    if kind:
        q = q.where(Responder.kind == ResponderKind(kind))
    if active is not None:
        q = q.where(Responder.active.is_(active))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(func.lower(Responder.name), Responder.id).limit(limit).offset(offset)).all()
    return Page[ResponderRecord](items=[_responder_record(session, r) for r in rows], total=total, limit=limit,
                                 offset=offset)


def _contact(session: Session, contact_id: int) -> HomeContact:
    contact = session.get(HomeContact, contact_id)
    if contact is None:
        raise NotFound(f"no home contact {contact_id}")
    return contact


def _contact_record(session: Session, c: HomeContact) -> ContactRecord:
    return ContactRecord(id=c.id, home_id=c.home_id, responder=_responder_record(session, session.get(Responder, c.responder_id)),
                         position=c.position, relation=c.relation, key_holder=c.key_holder,
                         availability=c.availability, ended_at=c.ended_at, version=c.version)


def get_contact(session: Session, contact_id: int) -> ContactRecord:
    return _contact_record(session, _contact(session, contact_id))


def add_contact(session: Session, actor: str, home_id: str, data: Any, *, now: datetime) -> ContactRecord:
    """Someone to call for this home; a contact that had ended is taken up again."""
    data = validated(NewContact, data)
    if session.get(Home, home_id) is None:
        raise NotFound(f"no home {home_id!r}")
    responder = session.get(Responder, data.responder_id)
    if responder is None:
        raise Invalid.one("responder_id", f"there is no responder {data.responder_id}")
    if not responder.active:
        raise Invalid.one("responder_id", f"responder {responder.id} is no longer active")
    last = session.scalar(select(func.max(HomeContact.position)).where(HomeContact.home_id == home_id,
                                                                        HomeContact.ended_at.is_(None))) or 0
    values = {"position": data.position or last + 1, "relation": data.relation, "key_holder": data.key_holder,
              "availability": plain(data.availability)}
    contact = session.scalar(select(HomeContact).where(HomeContact.home_id == home_id,
                                                       HomeContact.responder_id == responder.id))
    if contact is not None and contact.ended_at is None:
        raise Conflict(f"responder {responder.id} is already a contact for {home_id} (contact {contact.id})",
                       contact.version)
    if contact is None:
        contact = HomeContact(home_id=home_id, responder_id=responder.id, created_at=now, **values)
        session.add(contact)
        flush(session, "the contact")
        diff = created(values | {"responder_id": responder.id})
    else:
        diff = changed(contact, values | {"ended_at": None})
        flush(session, f"contact {contact.id}")
    audit(session, actor, "create", "contact", contact.id, diff, now, home_id=home_id)
    return _contact_record(session, contact)


def update_contact(session: Session, actor: str, contact_id: int, change: Any, *, version: int | None,
                   now: datetime) -> ContactRecord:
    change = validated(ContactChange, change)
    contact = _contact(session, contact_id)
    check_version(contact, version, f"contact {contact_id}")
    given = change.model_fields_set
    values: dict[str, Any] = {}
    for field in ("position", "relation", "key_holder"):
        if field in given:
            if getattr(change, field) is None:
                raise Invalid.one(field, "may not be empty")
            values[field] = getattr(change, field)
    if "availability" in given:
        values["availability"] = plain(change.availability or [])
    diff = changed(contact, values)
    flush(session, f"contact {contact_id}")
    audit(session, actor, "update", "contact", contact_id, diff, now, home_id=contact.home_id)
    return _contact_record(session, contact)


def end_contact(session: Session, actor: str, contact_id: int, *, version: int | None, now: datetime) -> ContactRecord:
    contact = _contact(session, contact_id)
    check_version(contact, version, f"contact {contact_id}")
    if contact.ended_at is not None:
        raise Conflict(f"contact {contact_id} has already ended", contact.version)
    diff = changed(contact, {"ended_at": now})
    flush(session, f"contact {contact_id}")
    audit(session, actor, "end", "contact", contact_id, diff, now, home_id=contact.home_id)
    return _contact_record(session, contact)


def list_contacts(session: Session, home_id: str, *, include_ended: bool = False) -> list[ContactRecord]:
    """The people to call for a home, in order."""
    q = select(HomeContact).where(HomeContact.home_id == home_id)
    if not include_ended:
        q = q.where(HomeContact.ended_at.is_(None))
    return [_contact_record(session, c) for c in session.scalars(q.order_by(HomeContact.position, HomeContact.id))]


def reorder_contacts(session: Session, actor: str, home_id: str, order: Any, *, now: datetime) -> list[ContactRecord]:
    """Put a home's contacts in this order (1 first). The order must name every current contact
    at the version read: one added, ended or changed since is a conflict, not silently reordered."""
    order = validated(ContactOrder, order)
    if session.get(Home, home_id) is None:
        raise NotFound(f"no home {home_id!r}")
    ids = [ref.id for ref in order.contacts]
    if len(set(ids)) != len(ids):
        raise Invalid.one("contacts", "names a contact more than once")
    current = {c.id: c for c in session.scalars(select(HomeContact).where(HomeContact.home_id == home_id,
                                                                          HomeContact.ended_at.is_(None)))}
    if set(ids) != set(current):
        raise VersionConflict(f"the contacts of {home_id} changed since they were read "
                              f"(now: {', '.join(map(str, sorted(current))) or 'none'}): read them again")
    for ref in order.contacts:
        check_version(current[ref.id], ref.version, f"contact {ref.id}")
    for position, ref in enumerate(order.contacts, start=1):
        diff = changed(current[ref.id], {"position": position})
        audit(session, actor, "order", "contact", ref.id, diff, now, home_id=home_id)
    flush(session, f"the contacts of {home_id}")
    return list_contacts(session, home_id)
