"""Who acted on an alert, read from its trail's actor text.

The actor of each trail event is recorded as ``"username (role)"`` for a signed-in account (an API
key acts as its user), ``"name (acknowledge link)"`` for a link's holder, and a plain name for the
platform itself ("escalation", "gateway"), so the role is the last bracketed word. The
monitoring centre answering an alert is its first acknowledgement by centre staff; a family
member's acknowledgement stops escalation but is not the centre answering, so such an alert is
answered when staff first act on it afterwards (one of ANSWER_KINDS)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

CENTRE_ROLES = ("operator", "admin", "responder")
# Trail events by which staff take an alert on when a family member acknowledged it first.
ANSWER_KINDS = ("acknowledged", "call", "note", "resolved")
_ROLE = re.compile(r"\((\w[\w ]*)\)\s*$")


def actor_role(actor: str | None) -> str | None:
    """The role (or "acknowledge link") an actor was recorded with; None for the platform."""
    m = _ROLE.search(actor or "")
    return m.group(1) if m else None


def by_centre(actor: str | None) -> bool:
    return actor_role(actor) in CENTRE_ROLES


def handler_name(actor: str | None) -> str | None:
    """The username of a monitoring-centre actor, or None for anyone else."""
    if not by_centre(actor):
        return None
    return _ROLE.sub("", actor or "").strip()


def centre_answer(acknowledged_at: datetime | None, acknowledged_by: str | None,
                  trail: Iterable[tuple[datetime, str | None]]) -> tuple[datetime, str | None] | None:
    """When the monitoring centre answered, and who: its own acknowledgement, else the first of
    ``trail`` (the alert's ANSWER_KINDS events as (at, actor), in time order) made by centre
    staff; None if the centre never did."""
    if acknowledged_at is not None and by_centre(acknowledged_by):
        return acknowledged_at, acknowledged_by
    return next(((at, actor) for at, actor in trail if by_centre(actor)), None)
