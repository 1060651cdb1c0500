"""The alert engine's front door: alarms from ingest and hits from scheduled rules become
persisted alerts, and only then is anyone told.

``AlertEngine`` is ingest's ``AlarmSink``: ``accept`` returns once the alert (or the repeat, or
the cancellation) is committed, so ingest can acknowledge the MQTT message knowing the alarm is
safe. Escalation then runs on the dispatcher, kicked at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.escalation import start_escalation
from tecwatch.alerts.lifecycle import open_alert, raise_alert, transition
from tecwatch.devices import Reading
from tecwatch.devices.payloads import is_cancel, low_battery
from tecwatch.registry.models import AlertState, Outcome

log = logging.getLogger(__name__)

# Device type -> the rule its alarm raises at once.
IMMEDIATE_RULES = {"pendant": "pendant", "fall_detector": "fall_detected", "smoke": "smoke", "leak": "flood",
                   "gateway": "hub_offline"}
_WHAT = {"pendant": "Pendant pressed", "fall_detected": "Fall detected", "smoke": "Smoke or heat detected",
         "flood": "Water leak detected", "hub_offline": "Home hub went offline (its last will)"}


@dataclass(frozen=True)
class RuleHit:
    """A rule's finding about one home, to become (or repeat) an alert."""

    home_id: str
    rule: str
    occurred_at: datetime
    reason: str
    detail: dict[str, Any]
    device_id: str | None = None


def immediate_hit(reading: Reading) -> RuleHit | None:
    rule = IMMEDIATE_RULES.get(reading.device_type)
    if rule is None or not reading.alarm:
        return None
    where = f" in the {reading.room}" if reading.room else ""
    return RuleHit(reading.home_id, rule, reading.ts, f"{_WHAT[rule]}{where} ({reading.device_id})",
                   {"values": reading.values}, reading.device_id)


def battery_hit(reading: Reading) -> RuleHit | None:
    if not low_battery(reading):
        return None
    level = reading.values.get("battery")
    shown = f" ({level:.0f}%)" if isinstance(level, float) else ""
    return RuleHit(reading.home_id, "low_battery", reading.ts,
                   f"Battery low on {reading.device_type} {reading.device_id}{shown}: change it soon",
                   {"battery": level, "device_type": reading.device_type}, reading.device_id)


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
        """AlarmSink: persist what the reading means (alert, repeat, cancellation); raises to be
        retried, and returns only once it is committed."""
        if is_cancel(alarm):
            self.cancel(alarm)
        hits = [h for h in (immediate_hit(alarm), battery_hit(alarm)) if h is not None]
        self.raise_hits(hits)

    def raise_hits(self, hits: list[RuleHit]) -> list[int]:
        """Persist each hit as a new alert or a repeat, in one transaction; returns new alert ids."""
        if not hits:
            return []
        now = self._clock()
        new: list[tuple[int, RuleHit]] = []
        with Session(self._engine) as s, s.begin():
            for h in hits:
                raised = raise_alert(s, home_id=h.home_id, rule=h.rule, occurred_at=h.occurred_at, now=now,
                                     device_id=h.device_id, reason=h.reason, detail=h.detail)
                if raised.new:
                    s.flush()
                    start_escalation(s, raised.alert, now, self._tz)
                    new.append((raised.alert.id, h))
        for alert_id, h in new:
            log.warning("ALERT %d raised: %s at %s: %s", alert_id, h.rule, h.home_id, h.reason)
        if new:
            self._kick()
        return [alert_id for alert_id, _ in new]

    def cancel(self, reading: Reading) -> None:
        """A pendant's cancel withdraws its alert; a hub back online resolves its outage."""
        rule = IMMEDIATE_RULES[reading.device_type]
        with Session(self._engine) as s, s.begin():
            alert = open_alert(s, reading.home_id, rule)
            if alert is None:
                return  # the usual case for a heartbeat
            if rule == "hub_offline":
                transition(s, alert, AlertState.RESOLVED, actor="gateway", at=self._clock(),
                           outcome=Outcome.TECHNICAL_FIXED, note=f"hub back online at {reading.ts.isoformat()}")
            else:
                transition(s, alert, AlertState.CANCELLED, actor=f"device {reading.device_id}", at=self._clock(),
                           note=f"cancelled at the device at {reading.ts.isoformat()}")
