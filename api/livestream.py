"""The live alert stream's authorisation, checked again before every batch of events it sends.

A stream stays open for hours, and what allowed it at connect may no longer hold: the account
disabled, the token signed out or superseded by a password change, a family member's consent
withdrawn. So before events go out, the credential the stream came with is checked as a new
request's would be, and the homes it may see are read again. Events are read first and checked
after, so nothing that happened after a withdrawal gets through. When the check fails the stream
ends (a last ``end`` event says why), logged as denied.

The access log gets a row when a stream opens and one for every event it sends (who, which home
and alert, what happened to it): an auditor can tell who learned what about which home, and when,
which one row per connection could not say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.service import AlertChange
from tecwatch.api import access
from tecwatch.api.access import AuthError, Credential, Principal
from tecwatch.api.deps import PEOPLE_READERS

# With no new events, check this often anyway, so that a disabled account's idle stream ends too.
IDLE_CHECK_S = 15.0
BATCH = 500
ENDED = "alert stream ended"


@dataclass(frozen=True)
class Batch:
    changes: list[AlertChange]
    cursor: int
    ended: str | None = None  # why the stream ends, if it does


@dataclass
class LiveStream:
    """One open stream: who it is for, what they may see, and the last event it has passed."""

    engine: Engine
    credential: Credential
    secret: str
    clock: Callable[[], datetime]
    who: Principal
    cursor: int
    visible: set[str] | None = None
    checked_at: float = field(default_factory=time.monotonic)

    def open(self) -> LiveStream:
        with Session(self.engine) as s, s.begin():
            self.visible = access.visible_home_ids(s, self.who)
            access.log_access(s, self.who, "open alert stream", detail=f"after event {self.cursor}", now=self.clock())
        return self

    def poll(self) -> Batch:
        """The events to send now, each one checked; or why the stream must end."""
        latest = service.latest_change(self.engine)
        if latest <= self.cursor and time.monotonic() - self.checked_at < IDLE_CHECK_S:
            return Batch([], self.cursor)
        changes = (service.changes_since(self.engine, self.cursor, self.visible, BATCH, upto=latest)
                   if latest > self.cursor else [])
        with Session(self.engine) as s, s.begin():
            now = self.clock()
            refusal = self._recheck(s, now)
            self.checked_at = time.monotonic()
            if refusal:
                return Batch([], self.cursor, refusal)
            sent = [c for c in changes if self.visible is None or c.home_id in self.visible]
            for c in sent:
                access.log_access(s, self.who, "stream alert", home_id=c.home_id, alert_id=c.alert_id,
                                  detail=f"{c.kind}, event {c.event_id}", now=now)
        # Past what was read, unless the batch was full: the rest comes next time.
        self.cursor = changes[-1].event_id if len(changes) == BATCH else max(self.cursor, latest)
        return Batch(sent, self.cursor)

    def _recheck(self, s: Session, now: datetime) -> str | None:
        try:
            who = access.principal_from(s, self.credential, self.secret, now)
        except AuthError as err:
            access.log_denied(s, self.who, ENDED, detail=str(err), now=now)
            return str(err)
        if who.role not in PEOPLE_READERS:
            refusal = f"a {who.role.value} account cannot read this"
            access.log_denied(s, who, ENDED, detail=refusal, now=now)
            return refusal
        visible = access.visible_home_ids(s, who)
        if self.visible is None and visible is not None:
            refusal = "this account may no longer see every home"
            access.log_denied(s, who, ENDED, detail=refusal, now=now)
            return refusal
        lost = sorted(self.visible - visible) if self.visible is not None and visible is not None else []
        for home_id in lost:  # a row per home, so that a search by home finds it
            access.log_denied(s, who, ENDED, home_id=home_id, detail="consent to share withdrawn", now=now)
        if lost:
            return "what this account may see has changed"
        self.who, self.visible = who, visible
        return None
