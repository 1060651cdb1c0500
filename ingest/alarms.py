"""The hand-off from ingest to the alert engine.

Alarms (pendant press, fall, smoke, leak) are handed over the moment they are validated, on
their own thread, so they never wait behind a slow time-series store. The message is
acknowledged to the broker only after the hand-off has returned, so a crash cannot lose one.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from tecwatch.devices import Reading

log = logging.getLogger(__name__)


class AlarmSink(Protocol):
    def accept(self, alarm: Reading) -> None:
        """Take responsibility for an alarm (durably); raise to have it retried."""


class LoggingAlarmSink:
    """Stand-in alert engine: logs alarms and keeps the most recent ones in memory."""

    def __init__(self, keep: int = 1000):
        self._keep = keep
        self._lock = threading.Lock()
        self._alarms: list[Reading] = []

    def accept(self, alarm: Reading) -> None:
        log.warning(
            "ALARM %s in home %s (device %s, %s) at %s",
            alarm.device_type, alarm.home_id, alarm.device_id, alarm.values, alarm.ts.isoformat(),
        )
        with self._lock:
            self._alarms.append(alarm)
            del self._alarms[: -self._keep]

    def recent(self) -> list[Reading]:
        with self._lock:
            return list(self._alarms)
