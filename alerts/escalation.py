"""Escalation and delivery: who is told about an alert, when, and whether it reached them.

A raised alert walks its home's escalation chain: each step notifies one responder on all
their contact routes, then waits; an acknowledgement stops the walk. Notifications are rows
that are claimed, sent and retried with backoff, so any number of dispatchers (one per
worker) can run side by side without sending twice, and a failure stays visible on the alert.
"""

from __future__ import annotations

import logging
import threading
from time import monotonic
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.acklink import make_token
from tecwatch.alerts.notify import AlertNotice, NotifyError, Sender
from tecwatch.registry.models import (
    Alert, AlertEvent, AlertState, ContactRoute, EscalationChain, EscalationStep, Home, Notification,
    NotificationStatus, Responder,
)
from tecwatch.settings import AlertSettings

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _active(chain: EscalationChain, local: time) -> bool:
    start, end = chain.active_from, chain.active_until
    if start is None or end is None:
        return True
    return start <= local < end if start <= end else (local >= start or local < end)  # e.g. 22:00-08:00


def choose_chain(session: Session, home_id: str, at: datetime, default_tz: str) -> EscalationChain | None:
    """The home's own chain for this time of day, else the default chain (no home)."""
    home = session.get(Home, home_id)
    local = at.astimezone(ZoneInfo(home.timezone if home else default_tz)).time()
    for owner in (home_id, None):
        chains = session.scalars(
            select(EscalationChain).where(EscalationChain.home_id.is_(None) if owner is None
                                          else EscalationChain.home_id == owner, EscalationChain.retired_at.is_(None))
            .order_by(EscalationChain.id)
        ).all()
        # A time-limited chain beats an all-day one when both apply.
        timed = [c for c in chains if c.active_from is not None and _active(c, local)]
        if timed:
            return timed[0]
        allday = [c for c in chains if c.active_from is None]
        if allday:
            return allday[0]
    return None


def snapshot(session: Session, chain: EscalationChain) -> dict:
    """The chain's steps as they are now: what an alert raised now walks, whatever later edits do.
    Ids and waits only: no names, so erasing a person leaves nothing of them here."""
    steps = session.scalars(select(EscalationStep).where(EscalationStep.chain_id == chain.id)
                            .order_by(EscalationStep.position)).all()
    return {"chain_id": chain.id, "version": chain.version,
            "steps": [{"position": n, "responder_id": st.responder_id, "wait_minutes": st.wait_minutes}
                      for n, st in enumerate(steps, start=1)]}


def start_escalation(session: Session, alert: Alert, now: datetime, default_tz: str) -> None:
    """Pick the chain for a new alert, keep a snapshot of its steps on the alert, and make its
    first step due now (same transaction)."""
    chain = choose_chain(session, alert.home_id, now, default_tz)
    alert.chain_id = chain.id if chain else None
    alert.escalation_snapshot = snapshot(session, chain) if chain else None
    alert.escalation_step = 0
    alert.next_escalation_at = now


@dataclass(frozen=True)
class _Step:
    responder_id: int
    wait_minutes: int


def _step(s: Session, alert: Alert, position: int) -> _Step | None:
    """Step ``position`` of the alert's chain: from its snapshot, or (alerts raised before
    snapshots were kept) from the chain as it is now."""
    if alert.escalation_snapshot is not None:
        steps = alert.escalation_snapshot.get("steps", [])
        return _Step(steps[position - 1]["responder_id"], steps[position - 1]["wait_minutes"]) \
            if position <= len(steps) else None
    if alert.chain_id is None:
        return None
    row = s.scalars(select(EscalationStep).where(EscalationStep.chain_id == alert.chain_id,
                                                 EscalationStep.position == position)).first()
    return _Step(row.responder_id, row.wait_minutes) if row else None


@dataclass
class DispatchStats:
    escalated: int = 0
    sent: int = 0
    failed_attempts: int = 0


class Dispatcher:
    def __init__(self, engine: Engine, settings: AlertSettings, sender: Sender, clock=utc_now):
        self._engine = engine
        self._settings = settings
        self._sender = sender
        self._clock = clock
        self._kick = threading.Event()
        self.last_pass_at = monotonic()  # when a pass last completed: the health check's progress

    def kick(self) -> None:
        """Something is due now (a new alert): don't wait for the next interval."""
        self._kick.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._kick.wait(self._settings.dispatch_interval_s)
            self._kick.clear()
            if stop.is_set():
                return
            try:
                self.run_once()
                self.last_pass_at = monotonic()
            except Exception:  # a database blip must not end escalation for good
                log.exception("escalation/delivery pass failed; retrying")
                stop.wait(1.0)

    def run_once(self) -> DispatchStats:
        """Escalate what is due, then deliver at once what that queued."""
        stats = DispatchStats()
        self.escalate_due(stats)
        self.deliver_due(stats)
        return stats

    # -- escalation --------------------------------------------------------------------------

    def escalate_due(self, stats: DispatchStats) -> None:
        now = self._clock()
        with Session(self._engine) as s:
            due = s.execute(
                select(Alert.id, Alert.next_escalation_at).where(
                    Alert.state == AlertState.RAISED, Alert.next_escalation_at <= now)
            ).all()
        for alert_id, was_due in due:
            with Session(self._engine) as s, s.begin():
                # Claim: only the dispatcher that moves next_escalation_at takes this step.
                claimed = s.execute(
                    update(Alert).where(Alert.id == alert_id, Alert.next_escalation_at == was_due,
                                        Alert.state == AlertState.RAISED).values(next_escalation_at=None)
                ).rowcount
                if claimed:
                    self._take_step(s, s.get(Alert, alert_id), now)
                    stats.escalated += 1

    def _take_step(self, s: Session, alert: Alert, now: datetime) -> None:
        position = alert.escalation_step + 1
        step = _step(s, alert, position)
        if step is None:
            kind = "escalation_exhausted" if alert.chain_id is not None else "no_escalation_chain"
            log.error("alert %d (%s at %s): %s; nobody else will be told until someone acts",
                      alert.id, alert.rule, alert.home_id, kind.replace("_", " "))
            s.add(AlertEvent(alert_id=alert.id, at=now, actor="escalation", kind=kind))
            return
        responder = s.get(Responder, step.responder_id)
        # Routes are looked up now: a number or address put right since the alert was raised is used.
        routes = s.scalars(select(ContactRoute).where(ContactRoute.responder_id == step.responder_id,
                                                      ContactRoute.retired_at.is_(None))
                           .order_by(ContactRoute.priority, ContactRoute.id)).all()
        for route in routes:
            s.add(Notification(alert_id=alert.id, step=position, responder_id=step.responder_id, route_id=route.id,
                               status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now))
        alert.escalation_step = position
        alert.next_escalation_at = now + timedelta(minutes=step.wait_minutes)
        s.add(AlertEvent(alert_id=alert.id, at=now, actor="escalation", kind="escalated",
                         note=f"step {position}: {responder.name if responder else step.responder_id}",
                         detail={"step": position, "responder_id": step.responder_id, "routes": len(routes),
                                 "next_step_at": alert.next_escalation_at.isoformat()}))
        if not routes:
            log.error("responder %s has no contact routes (alert %d)", step.responder_id, alert.id)

    # -- delivery ----------------------------------------------------------------------------

    def deliver_due(self, stats: DispatchStats) -> None:
        now = self._clock()
        with Session(self._engine) as s:
            # Pending and due, or claimed by a dispatcher that died before finishing (lease over).
            due = s.execute(select(Notification.id, Notification.status, Notification.next_attempt_at).where(
                Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.SENDING)),
                Notification.next_attempt_at <= now,
            ).order_by(Notification.next_attempt_at)).all()
        for notification_id, status, was_due in due:
            self._deliver(notification_id, status, was_due, stats)

    def _deliver(self, notification_id: int, status: NotificationStatus, was_due: datetime,
                 stats: DispatchStats) -> None:
        lease = timedelta(seconds=2 * self._settings.webhook_timeout_s + 60)
        with Session(self._engine) as s, s.begin():
            claimed = s.execute(update(Notification).where(
                Notification.id == notification_id, Notification.status == status,
                Notification.next_attempt_at == was_due,
            ).values(status=NotificationStatus.SENDING, next_attempt_at=self._clock() + lease)).rowcount
            if not claimed:
                return
            n = s.get(Notification, notification_id)
            alert = s.get(Alert, n.alert_id)
            route = s.get(ContactRoute, n.route_id)
            responder = s.get(Responder, n.responder_id)
            if alert.state is not AlertState.RAISED:
                n.status = NotificationStatus.CANCELLED  # someone already has it in hand
                return
            token = make_token(self._settings.ack_link_key, alert.id, responder.id, self._clock(),
                               timedelta(hours=self._settings.ack_link_hours))
            ack_url = f"{self._settings.public_url.rstrip('/')}/ack/{alert.id}?token={token}"
            notice = AlertNotice(alert.id, alert.home_id, alert.rule, alert.priority, alert.reason,
                                 alert.occurred_at.isoformat(), n.step, responder.name, alert.device_id, ack_url)
            kind, target = route.kind, route.target
        error = None
        try:
            self._sender.send(kind, target, notice)
        except NotifyError as err:
            error = str(err)
        except Exception as err:  # a broken plugin is a failed attempt, not a dead dispatcher
            error = f"{type(err).__name__}: {err}"
        now = self._clock()
        with Session(self._engine) as s, s.begin():
            n = s.get(Notification, notification_id)
            n.attempts += 1
            detail = {"notification_id": n.id, "route": kind, "attempt": n.attempts, "step": n.step}
            if error is None:
                n.status, n.sent_at, n.last_error = NotificationStatus.SENT, now, ""
                s.add(AlertEvent(alert_id=n.alert_id, at=now, actor="escalation", kind="notified",
                                 note=f"{notice.responder} via {kind}", detail=detail))
                stats.sent += 1
                return
            stats.failed_attempts += 1
            n.last_error = error[:2000]
            if n.attempts >= self._settings.notify_max_attempts:
                n.status = NotificationStatus.FAILED
                log.error("giving up notifying %s about alert %d after %d attempts: %s",
                          notice.responder, n.alert_id, n.attempts, error)
            else:
                backoff = min(self._settings.notify_backoff_max_s,
                              self._settings.notify_backoff_min_s * 2 ** (n.attempts - 1))
                n.status, n.next_attempt_at = NotificationStatus.PENDING, now + timedelta(seconds=backoff)
                log.warning("notifying %s about alert %d failed (attempt %d), retrying in %.0fs: %s",
                            notice.responder, n.alert_id, n.attempts, backoff, error)
            s.add(AlertEvent(alert_id=n.alert_id, at=now, actor="escalation", kind="notify_failed",
                             note=error[:500], detail=detail | {"gave_up": n.status is NotificationStatus.FAILED}))
