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
from tecwatch.devices.payloads import is_cancel
from tecwatch.registry.models import AlertState

log = logging.getLogger(__name__)

# Device type -> the rule its alarm raises at once.
IMMEDIATE_RULES = {"pendant": "pendant", "fall_detector": "fall_detected", "smoke": "smoke", "leak": "flood"}
_WHAT = {"pendant": "Pendant pressed", "fall_detected": "Fall detected", "smoke": "Smoke or heat detected",
         "flood": "Water leak detected"}


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
        """AlarmSink: persist the alarm as an alert (or cancel one); raises to be retried."""
        if is_cancel(alarm):
            self.cancel(alarm)
            return
        hit = immediate_hit(alarm)
        if hit is None:
            log.warning("no immediate rule for %s alarm %s; ignored", alarm.device_type, alarm.values)
            return
        self.raise_hits([hit])

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
        rule = IMMEDIATE_RULES[reading.device_type]
        with Session(self._engine) as s, s.begin():
            alert = open_alert(s, reading.home_id, rule)
            if alert is None:
                log.info("cancel from %s/%s with no open %s alert", reading.home_id, reading.device_id, rule)
                return
            transition(s, alert, AlertState.CANCELLED, actor=f"device {reading.device_id}", at=self._clock(),
                       note=f"cancelled at the device at {reading.ts.isoformat()}")
