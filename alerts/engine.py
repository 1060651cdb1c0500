"""The alert engine's front door: alarms from ingest and hits from scheduled rules become
persisted alerts, and only then is anyone told.

``AlertEngine`` is ingest's ``AlarmSink``: ``accept_many`` returns once the alerts (or the
repeats, or the cancellations) are committed, so ingest can acknowledge the MQTT messages
knowing the alarms are safe. Escalation then runs on the dispatcher, kicked at once.

Each alarm event is handled once, however often it arrives (a redelivery after a crash, a
retained copy replayed on subscribe, a gateway sending again): an alarm no later than the
newest one already handled for the same home and rule raises nothing (see ``_first_copies``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.escalation import start_escalation
from tecwatch.alerts.lifecycle import open_alert, raise_alert, transition
from tecwatch.alerts.rules import BY_KEY, IMMEDIATE_RULES
from tecwatch.devices import Reading
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID
from tecwatch.devices.payloads import is_cancel, low_battery
from tecwatch.registry.models import AlarmReceipt, Alert, AlertState, Outcome

log = logging.getLogger(__name__)

# A hub whose clock is this far out has its messages' times replaced, or reports it so.
CLOCK_TOLERANCE_S = 300.0


@dataclass(frozen=True)
class RuleHit:
    """A rule's finding about one home, to become (or repeat) an alert."""

    home_id: str
    rule: str
    occurred_at: datetime
    reason: str
    detail: dict[str, Any]
    device_id: str | None = None


def _clock_note(reading: Reading) -> str:
    if not reading.clock_skewed:
        return ""
    said = f"it said {reading.device_ts:%Y-%m-%d %H:%M:%S} UTC" if reading.device_ts else "it sent no usable time"
    return f"; the device's clock is wrong ({said}), so the time it arrived is used"


def immediate_hit(reading: Reading) -> RuleHit | None:
    rule = IMMEDIATE_RULES.get(reading.device_type)
    if rule is None or not reading.alarm:
        return None
    where = f" in the {reading.room}" if reading.room else ""
    detail: dict[str, Any] = {"values": reading.values}
    if reading.clock_skewed:
        detail |= {"clock_skewed": True, "device_ts": reading.device_ts.isoformat() if reading.device_ts else None}
    return RuleHit(reading.home_id, rule, reading.ts,
                   f"{BY_KEY[rule].wording}{where} ({reading.device_id}){_clock_note(reading)}", detail, reading.device_id)


def battery_hit(reading: Reading) -> RuleHit | None:
    if not low_battery(reading):
        return None
    level = reading.values.get("battery")
    shown = f" ({level:.0f}%)" if isinstance(level, float) else ""
    return RuleHit(reading.home_id, "low_battery", reading.ts,
                   f"Battery low on {reading.device_type} {reading.device_id}{shown}: change it soon",
                   {"battery": level, "device_type": reading.device_type}, reading.device_id)


def clock_offset(reading: Reading) -> float | None:
    """How far the home's clock is out, in seconds, when known: from a message whose time was
    replaced, or from the offset the hub itself reports in its heartbeat."""
    if reading.clock_skewed and reading.device_ts is not None:
        return (reading.device_ts - reading.ts).total_seconds()
    offset = reading.values.get("clock_offset_s") if reading.device_type == "gateway" else None
    return float(offset) if isinstance(offset, (int, float)) and not isinstance(offset, bool) else None


def clock_hit(reading: Reading) -> RuleHit | None:
    offset = clock_offset(reading)
    if not reading.clock_skewed and (offset is None or abs(offset) <= CLOCK_TOLERANCE_S):
        return None
    if offset is None:
        told = "sent a message with no usable time"
    else:
        minutes = abs(offset) / 60
        amount = f"{minutes:,.0f} min" if minutes < 48 * 60 else f"{minutes / 1440:,.0f} days"
        told = f"is {amount} {'ahead' if offset > 0 else 'behind'}"
    return RuleHit(reading.home_id, "hub_clock_wrong", reading.ts,
                   f"The home hub's clock is wrong: {reading.device_id} {told}. Alarms are still raised, "
                   f"at the time they arrive; set the hub's time (NTP)",
                   {"clock_offset_s": offset, "device_id": reading.device_id}, GATEWAY_DEVICE_ID)


def event_key(reading: Reading) -> str:
    """What every copy of one alarm event repeats: the device's own time and sequence number."""
    said = reading.device_ts if reading.clock_skewed else reading.ts
    return f"{said.isoformat(timespec='milliseconds') if said else '-'}#{reading.seq}"


class AlertEngine:
    def __init__(
        self,
        engine: Engine,
        *,
        kick: Callable[[], None] = lambda: None,
        default_tz: str = "Europe/London",
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self._engine = engine
        self._kick = kick  # tells the dispatcher something is due now
        self._tz = default_tz
        self._clock = clock

    def accept(self, alarm: Reading) -> None:
        self.accept_many([alarm])

    def accept_many(self, alarms: Sequence[Reading]) -> None:
        """AlarmSink: persist what the readings mean (alerts, repeats, cancellations) in one
        transaction; raises to be retried, and returns only once it is committed."""
        now = self._clock()
        new: list[tuple[int, RuleHit]] = []
        with Session(self._engine) as s, s.begin():
            hits: list[RuleHit] = []
            for alarm in self._first_copies(s, alarms, now):
                if is_cancel(alarm):
                    new += self._raise(s, hits, now)  # what came before the cancel, first
                    hits = []
                    self._cancel(s, alarm, now)
                    if alarm.device_type == "gateway":
                        self._clock_fixed(s, alarm, now)
                hits += [h for h in (immediate_hit(alarm), battery_hit(alarm), clock_hit(alarm)) if h is not None]
            new += self._raise(s, hits, now)
        self._announce(new)

    def raise_hits(self, hits: list[RuleHit]) -> list[int]:
        """Persist each hit of a scheduled rule, each the start of a new episode (see
        ``episodes.new_episodes``), in one transaction: a new alert, or an open one raised again
        with the new reason. Returns the ids of the alerts whose escalation (re)started."""
        if not hits:
            return []
        with Session(self._engine) as s, s.begin():
            new = self._raise(s, hits, self._clock(), new_episode=True)
        self._announce(new)
        return [alert_id for alert_id, _ in new]

    def cancel(self, reading: Reading) -> None:
        with Session(self._engine) as s, s.begin():
            self._cancel(s, reading, self._clock())

    # -- in a transaction ----------------------------------------------------------------------

    def _first_copies(self, s: Session, alarms: Sequence[Reading], now: datetime) -> list[Reading]:
        """The alarms not handled before. An alarm no later than the newest occurrence of the
        same rule at the home is a copy (redelivered, retained, resent) or was overtaken by a
        later one already handled. An alarm whose time was replaced (a wrong clock) has no
        usable time to compare, so its receipt is kept instead, keyed by what the device said.
        Heartbeats and batteries need neither: handling them twice changes nothing."""
        live = [a for a in alarms if a.alarm and a.device_type != "gateway"]
        newest: dict[tuple[str, str], datetime] = {}
        timed = {(a.home_id, IMMEDIATE_RULES[a.device_type]) for a in live if not a.clock_skewed}
        if timed:
            homes, rules = {h for h, _ in timed}, {r for _, r in timed}
            for home, rule, last in s.execute(
                    select(Alert.home_id, Alert.rule, func.max(Alert.last_seen_at))
                    .where(Alert.home_id.in_(homes), Alert.rule.in_(rules)).group_by(Alert.home_id, Alert.rule)):
                newest[(home, rule)] = _utc(last)
        receipts = self._receipts(s, [a for a in live if a.clock_skewed], now)
        out = []
        for a in alarms:
            if a.alarm and a.device_type != "gateway":
                if a.clock_skewed:
                    if not receipts.pop((a.home_id, a.device_id, event_key(a)), None):
                        log.info("alarm from %s/%s (wrong clock, %s) handled before", a.home_id, a.device_id,
                                 event_key(a))
                        continue
                else:
                    key = (a.home_id, IMMEDIATE_RULES[a.device_type])
                    if key in newest and a.ts <= newest[key]:
                        log.info("alarm from %s/%s at %s handled before; not raised again", a.home_id, a.device_id,
                                 a.ts.isoformat())
                        continue
                    newest[key] = a.ts
            out.append(a)
        return out

    def _receipts(self, s: Session, alarms: list[Reading], now: datetime) -> dict[tuple[str, str, str], bool]:
        """Receipts for these alarms, added in this transaction; True for each one that is new."""
        keys = {(a.home_id, a.device_id, event_key(a)) for a in alarms}
        if not keys:
            return {}
        cols = (AlarmReceipt.home_id, AlarmReceipt.device_id, AlarmReceipt.event_key)
        seen = {tuple(r) for r in s.execute(select(*cols).where(tuple_(*cols).in_(list(keys))))}
        s.add_all(AlarmReceipt(home_id=h, device_id=d, event_key=k, received_at=now) for h, d, k in keys - seen)
        s.flush()  # a concurrent worker's receipt for the same event fails this transaction: retried
        return {k: k not in seen for k in keys}

    def _raise(self, s: Session, hits: list[RuleHit], now: datetime,
               new_episode: bool = False) -> list[tuple[int, RuleHit]]:
        # Hits of one home and rule in a batch (a flood of presses) are one alert or one repeat.
        grouped: dict[tuple[str, str], list[RuleHit]] = {}
        for h in hits:
            grouped.setdefault((h.home_id, h.rule), []).append(h)
        new = []
        for same in grouped.values():
            h = same[0]
            raised = raise_alert(s, home_id=h.home_id, rule=h.rule, occurred_at=h.occurred_at, now=now,
                                 device_id=h.device_id, reason=h.reason, detail=h.detail, new_episode=new_episode)
            if raised.new:
                s.flush()
                start_escalation(s, raised.alert, now, self._tz)
                new.append((raised.alert.id, h))
            if len(same) > 1:
                last = max(x.occurred_at for x in same)
                raise_alert(s, home_id=h.home_id, rule=h.rule, occurred_at=last, now=now, device_id=h.device_id,
                            reason=same[-1].reason, detail=same[-1].detail, times=len(same) - 1)
        return new

    def _cancel(self, s: Session, reading: Reading, now: datetime) -> None:
        """A pendant's cancel withdraws its alert; a hub back online resolves its outage."""
        rule = IMMEDIATE_RULES[reading.device_type]
        alert = open_alert(s, reading.home_id, rule)
        if alert is None:
            return  # the usual case for a heartbeat
        if rule == "hub_offline":
            transition(s, alert, AlertState.RESOLVED, actor="gateway", at=now,
                       outcome=Outcome.TECHNICAL_FIXED, note=f"hub back online at {reading.ts.isoformat()}")
        else:
            transition(s, alert, AlertState.CANCELLED, actor=f"device {reading.device_id}", at=now,
                       note=f"cancelled at the device at {reading.ts.isoformat()}")

    def _clock_fixed(self, s: Session, heartbeat: Reading, now: datetime) -> None:
        """A heartbeat on time, with no wrong offset reported, resolves a wrong-clock alert."""
        if clock_hit(heartbeat) is not None:
            return
        alert = open_alert(s, heartbeat.home_id, "hub_clock_wrong")
        if alert is not None:
            transition(s, alert, AlertState.RESOLVED, actor="gateway", at=now, outcome=Outcome.TECHNICAL_FIXED,
                       note=f"the hub's clock is right again (heartbeat at {heartbeat.ts.isoformat()})")

    def _announce(self, new: list[tuple[int, RuleHit]]) -> None:
        for alert_id, h in new:
            log.warning("ALERT %d raised: %s at %s: %s", alert_id, h.rule, h.home_id, h.reason)
        if new:
            self._kick()

    def forget_receipts(self, before: datetime) -> int:
        """Retention: receipts older than any copy could still arrive (the accepted age)."""
        with Session(self._engine) as s, s.begin():
            return s.execute(delete(AlarmReceipt).where(AlarmReceipt.received_at < before)).rowcount


def _utc(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written as UTC.
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts
