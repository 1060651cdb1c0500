"""The hand-off from ingest to the alert engine.

Alarms (pendant press, fall, smoke, leak) are handed over the moment they are validated, on
their own thread, so they never wait behind a slow time-series store. The message is
acknowledged to the broker only after the hand-off has returned, so a crash cannot lose one.

One home cannot hold up the others: alarms are handed over a home at a time, the homes with
fewest waiting first, and at most ``PER_HOME_ROUND`` of one home's per round, so a home
sending thousands of presses costs every other home one short transaction at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tecwatch.devices import Reading
from tecwatch.settings import IngestSettings

from .mailbox import Mailbox

log = logging.getLogger(__name__)

# Errors that say the alert engine's database is unreachable: retried until it is back.
# Anything else is a fault with these alarms, which must not block every other alarm.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, OSError)
# A fault that is not transient is tried this often before the alarm is given up (and kept).
MAX_FAULTS = 3
PER_HOME_ROUND = 500


class AlarmSink(Protocol):
    def accept_many(self, alarms: Sequence[Reading]) -> None:
        """Take responsibility for these alarms of one home (durably); raise to have them retried."""


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

    def accept_many(self, alarms: Sequence[Reading]) -> None:
        for alarm in alarms:
            self.accept(alarm)

    def recent(self) -> list[Reading]:
        with self._lock:
            return list(self._alarms)


@dataclass(slots=True)
class PendingAlarm:
    reading: Reading
    done: threading.Event = field(default_factory=threading.Event)
    # Why the alert engine could not take it, if it never could (the reading is stored anyway).
    failure: str | None = None


class AlarmHandOff:
    def __init__(self, sink: AlarmSink, settings: IngestSettings, stopping: threading.Event):
        self._sink = sink
        self._settings = settings
        self._stopping = stopping
        self._box: Mailbox[PendingAlarm] = Mailbox()
        # Written by the hand-off thread only.
        self.retries = 0
        self.failed = 0
        self.last_progress = time.monotonic()

    def put(self, alarm: PendingAlarm) -> None:
        self._box.put(alarm)

    def waiting(self) -> int:
        return len(self._box)

    def run(self) -> None:
        while not self._stopping.is_set():
            if not self._box.wait(0.2):
                continue
            by_home: dict[str, list[PendingAlarm]] = {}
            for alarm in self._box.take(100_000):
                by_home.setdefault(alarm.reading.home_id, []).append(alarm)
            later: list[PendingAlarm] = []
            for group in sorted(by_home.values(), key=len):
                later += group[PER_HOME_ROUND:]
                if not self._hand_over(group[:PER_HOME_ROUND]):
                    return  # stopping: the broker redelivers what was not acknowledged
            if later:
                self._box.put_back(later)

    def _hand_over(self, group: list[PendingAlarm]) -> bool:
        """Hand one home's alarms over; False if stopping first."""
        delay = self._settings.store_retry_min_s
        faults = 0
        while True:
            try:
                self._sink.accept_many([a.reading for a in group])
                break
            except TRANSIENT as err:
                self.retries += 1
                log.error("alert engine did not accept %d alarm(s) from %s (%s); retrying",
                          len(group), group[0].reading.home_id, err)
            except Exception as err:  # noqa: BLE001 - one bad alarm must not block the rest
                if len(group) > 1:  # find the one at fault; the others go through
                    return all(self._hand_over([a]) for a in group)
                faults += 1
                self.retries += 1
                if faults >= MAX_FAULTS:
                    alarm = group[0]
                    alarm.failure = f"{type(err).__name__}: {err}"
                    self.failed += 1
                    log.critical("ALARM NOT RAISED: the alert engine fails on %s from %s/%s (%s); it is stored "
                                 "and kept as a dead letter", alarm.reading.device_type, alarm.reading.home_id,
                                 alarm.reading.device_id, alarm.failure, exc_info=err)
                    break
                log.exception("alert engine failed on an alarm from %s; retrying", group[0].reading.home_id)
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, self._settings.store_retry_max_s)
        for alarm in group:
            alarm.done.set()
        self.last_progress = time.monotonic()
        return True
