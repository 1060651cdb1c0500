"""Responders (family, neighbours, the mobile responder service, the monitoring centre) with
their phones and notification routes, and each home's contacts: who to call, in order, whether
they hold a key and when they can be called (``registry/contacts.py``). Coordinators and admins
keep them; whoever handles a call sees a home's contacts on the resident card."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from tecwatch.api.deps import Editor, NowDep, SessionDep, errors
from tecwatch.api.enrolment import (
    CHANGE_ERRORS, CREATE_ERRORS, HomeId, IfMatch, Versioned, actor, etag, expected, logged, tagged, unversioned,
)
from tecwatch.registry import contacts, homes
from tecwatch.registry.changes import Page
from tecwatch.registry.contacts import (
    ContactChange, ContactOrder, ContactRecord, NewContact, ResponderChange, ResponderFields, ResponderRecord,
)
from tecwatch.registry.vocab import ResponderKind

router = APIRouter(tags=["contacts"], responses=errors(401, 403, 404, 422))
ResponderId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The responder's number in the registry")]
ContactId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The home contact's number in the registry")]


class ResponderPatch(ResponderChange, Versioned):
    """The fields to change (``routes`` replaces them all, in order)."""


class ContactPatch(ContactChange, Versioned):
    """The fields to change (``position`` moves them in the order)."""


class Ending(Versioned):
    """The version as read (or send If-Match instead)."""


# -- responders ------------------------------------------------------------------------------

@router.get("/api/responders")
def search_responders(request: Request, who: Editor, session: SessionDep,
                      name: str | None = Query(None, max_length=200, pattern=r"^[^\x00]*$"),
                      kind: ResponderKind | None = None,
                      include_ended: bool = Query(False, description="responders no longer active too"),
                      limit: int = Query(50, ge=1, le=500),
                      offset: int = Query(0, ge=0, le=2**31 - 1)) -> Page[ResponderRecord]:
    """Responders by name, a page at a time."""
    return logged(request, session, who, "search responders",
                  lambda: contacts.search_responders(session, name=name, kind=kind,
                                                     active=None if include_ended else True, limit=limit,
                                                     offset=offset))


@router.post("/api/responders", status_code=201, responses=CREATE_ERRORS | tagged(201))
def create_responder(body: ResponderFields, request: Request, response: Response, who: Editor, session: SessionDep,
                     at: NowDep) -> ResponderRecord:
    """Someone who may be called or notified: name, kind, phones, and notification routes in
    order (apprise URLs or a webhook)."""
    out = logged(request, session, who, "create responder",
                 lambda: contacts.create_responder(session, actor(who), body, now=at))
    response.headers["Location"] = f"/api/responders/{out.id}"
    etag(response, out.version)
    return out


@router.get("/api/responders/{responder_id}", responses=tagged())
def get_responder(responder_id: ResponderId, request: Request, response: Response, who: Editor,
                  session: SessionDep) -> ResponderRecord:
    out = logged(request, session, who, "read responder", lambda: contacts.get_responder(session, responder_id))
    etag(response, out.version)
    return out


@router.patch("/api/responders/{responder_id}", responses=CHANGE_ERRORS | tagged())
def update_responder(responder_id: ResponderId, body: ResponderPatch, request: Request, response: Response,
                     who: Editor, session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ResponderRecord:
    version = expected(if_match, body.version)
    out = logged(request, session, who, "update responder",
                 lambda: contacts.update_responder(session, actor(who), responder_id,
                                                   unversioned(body, ResponderChange), version=version, now=at))
    etag(response, out.version)
    return out


@router.post("/api/responders/{responder_id}/end", responses=CHANGE_ERRORS | tagged())
def end_responder(responder_id: ResponderId, request: Request, response: Response, who: Editor, session: SessionDep,
                  at: NowDep, body: Ending | None = None, if_match: IfMatch = None) -> ResponderRecord:
    """No longer a responder: kept for the alerts that named them, left out of new contacts."""
    version = expected(if_match, body.version if body else None)
    out = logged(request, session, who, "end responder",
                 lambda: contacts.end_responder(session, actor(who), responder_id, version=version, now=at))
    etag(response, out.version)
    return out


# -- a home's contacts -----------------------------------------------------------------------

@router.get("/api/homes/{home_id}/contacts")
def home_contacts(home_id: HomeId, request: Request, who: Editor, session: SessionDep,
                  include_ended: bool = Query(False, description="ended contacts too")) -> list[ContactRecord]:
    """The people to call for a home, in order."""
    def listing() -> list[ContactRecord]:
        homes.get_home(session, home_id)  # a home that is not there is a 404, not an empty list
        return contacts.list_contacts(session, home_id, include_ended=include_ended)

    return logged(request, session, who, "read contacts", listing, home_id=home_id)


@router.post("/api/homes/{home_id}/contacts", status_code=201, responses=CREATE_ERRORS | tagged(201))
def add_contact(home_id: HomeId, body: NewContact, request: Request, response: Response, who: Editor,
                session: SessionDep, at: NowDep) -> ContactRecord:
    """Someone to call for this home (after the others unless ``position`` says)."""
    out = logged(request, session, who, "add contact",
                 lambda: contacts.add_contact(session, actor(who), home_id, body, now=at), home_id=home_id)
    response.headers["Location"] = f"/api/contacts/{out.id}"
    etag(response, out.version)
    return out


@router.put("/api/homes/{home_id}/contacts/order", responses=errors(400, 409))
def reorder_contacts(home_id: HomeId, body: ContactOrder, request: Request, who: Editor, session: SessionDep,
                     at: NowDep) -> list[ContactRecord]:
    """Every current contact, each with the version read, in the order to call them. A contact
    added, ended or changed since is a 409: read them again."""
    return logged(request, session, who, "order contacts",
                  lambda: contacts.reorder_contacts(session, actor(who), home_id, body, now=at), home_id=home_id)


@router.get("/api/contacts/{contact_id}", responses=tagged())
def get_contact(contact_id: ContactId, request: Request, response: Response, who: Editor,
                session: SessionDep) -> ContactRecord:
    out = logged(request, session, who, "read contact", lambda: contacts.get_contact(session, contact_id))
    etag(response, out.version)
    return out


@router.patch("/api/contacts/{contact_id}", responses=CHANGE_ERRORS | tagged())
def update_contact(contact_id: ContactId, body: ContactPatch, request: Request, response: Response, who: Editor,
                   session: SessionDep, at: NowDep, if_match: IfMatch = None) -> ContactRecord:
    """Change position, relation, key holding or when they can be called."""
    version = expected(if_match, body.version)
    out = logged(request, session, who, "update contact",
                 lambda: contacts.update_contact(session, actor(who), contact_id, unversioned(body, ContactChange),
                                                 version=version, now=at))
    etag(response, out.version)
    return out


@router.post("/api/contacts/{contact_id}/end", responses=CHANGE_ERRORS | tagged())
def end_contact(contact_id: ContactId, request: Request, response: Response, who: Editor, session: SessionDep,
                at: NowDep, body: Ending | None = None, if_match: IfMatch = None) -> ContactRecord:
    """No longer someone to call for this home."""
    version = expected(if_match, body.version if body else None)
    out = logged(request, session, who, "end contact",
                 lambda: contacts.end_contact(session, actor(who), contact_id, version=version, now=at))
    etag(response, out.version)
    return out
