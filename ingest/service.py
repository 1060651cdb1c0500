"""Ingest: validate each message, hand alarms over at once, store in batches, then acknowledge.

Transport-agnostic: the MQTT adapter calls ``submit`` with an ``ack`` callable per message.
A message is acknowledged only after everything it caused is durable: its reading (or its
dead letter) and, for an alarm, the alert engine's acceptance. Until then the broker keeps it
and redelivers it after a crash, so nothing accepted is lost; redelivered duplicates are
idempotent in the store.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from tecwatch.devices import Channel, Limits, Reading, Rejection, parse_message
from tecwatch.devices.payloads import for_alert_engine
from tecwatch.settings import IngestSettings

from .alarms import AlarmSink
from .deadletter import DeadLetter, DeadLetterStore
from .stats import IngestCounters, IngestStats
from tecwatch.store import StoreUnavailable, TimeSeriesStore
from tecwatch.store.base import StoreRejected

log = logging.getLogger(__name__)

Ack = Callable[[], None]
T = TypeVar("T")

# While a batch fills, the writer looks at it this often.
_POLL_S = 0.005


class Mailbox(Generic[T]):
    """Items posted by one thread and taken in bulk by another.

    The taker is woken only when the box goes from empty to non-empty, never per item:
    waking a thread per message makes threads trade the GIL on every reading.
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._mail = threading.Event()

    def put(self, item: T) -> None:
        self._items.append(item)
        if not self._mail.is_set():
            self._mail.set()

    def wait(self, timeout: float) -> bool:
        """True once there is something to take (False after ``timeout``)."""
        if self._items:
            return True
        self._mail.clear()
        if self._items:  # posted between the check and the clear
            return True
        return self._mail.wait(timeout) and bool(self._items)

    def take(self, limit: int) -> list[T]:
        items = self._items
        return [items.popleft() for _ in range(min(len(items), limit))]

    def __len__(self) -> int:
        return len(self._items)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class _Pending:
    topic: str
    payload: bytes
    ack: Ack
    received_mono: float
    received_at: datetime
    reading: Reading | None = None
    letter: DeadLetter | None = None
    alarm_done: threading.Event | None = None


class IngestService:
    def __init__(
        self,
        store: TimeSeriesStore,
        dead_letters: DeadLetterStore,
        alarm_sink: AlarmSink,
        settings: IngestSettings,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._store = store
        self._dead_letters = dead_letters
        self._alarm_sink = alarm_sink
        self._settings = settings
        self._clock = clock
        self._limits = Limits(
            max_payload_bytes=settings.max_payload_bytes,
            max_future=timedelta(seconds=settings.max_future_s),
            max_age=timedelta(days=settings.max_age_days),
        )
        # Validation runs on the network thread (an extra thread costs more in GIL hand-offs
        # than it saves); the writer takes validated messages in whole batches.
        self._validated: Mailbox[_Pending] = Mailbox()
        self._alarms: queue.SimpleQueue[tuple[Reading, threading.Event]] = queue.SimpleQueue()
        self._counters = IngestCounters()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- adapter side -------------------------------------------------------------------------

    def submit(self, topic: str, payload: bytes, ack: Ack, *, redelivered: bool = False, retained: bool = False) -> None:
        """Take one message. Never raises for bad input; fast enough for the network thread."""
        c = self._counters
        c.received += 1
        if redelivered:
            c.redelivered += 1
        now = self._clock()
        item = _Pending(topic, payload, ack, time.monotonic(), now)
        result = parse_message(topic, payload, now, self._limits)
        if isinstance(result, Rejection):
            item.letter = DeadLetter(topic, payload, result.reason.value, result.detail, now)
        elif retained and result.channel is Channel.STATUS:
            # A retained status is the broker replaying a hub's last known state on subscribe,
            # not a new event; storing it again would invent an event at arrival time.
            c.retained_skipped += 1
        else:
            item.reading = result
            if for_alert_engine(result):  # alarms, cancels, low batteries: never behind the store
                c.alarms += result.alarm
                item.alarm_done = threading.Event()
                self._alarms.put((result, item.alarm_done))
        self._validated.put(item)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (
            ("ingest-writer", self._writer_loop),
            ("ingest-alarms", self._alarm_loop),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def drain(self, timeout: float) -> bool:
        """Wait until everything submitted so far is stored and acknowledged."""
        target = self._counters.received
        deadline = time.monotonic() + timeout
        while self._counters.settled < target:
            if time.monotonic() >= deadline or self._stopping.is_set():
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; whatever was not acknowledged by then is redelivered by the broker later."""
        self._stopping.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def stats(self) -> IngestStats:
        return self._counters.snapshot(pending=len(self._validated))

    # -- writer -------------------------------------------------------------------------------

    def _writer_loop(self) -> None:
        next_log = time.monotonic() + self._settings.stats_interval_s
        while not self._stopping.is_set():
            batch = self._collect()
            if batch:
                self._flush(batch)
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + self._settings.stats_interval_s
                log.info("ingest %s", self.stats().summary())

    def _collect(self) -> list[_Pending]:
        box = self._validated
        if not box.wait(0.2):
            return []
        deadline = time.monotonic() + self._settings.batch_max_wait_s
        limit = self._settings.batch_max_size
        while len(box) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, _POLL_S))
        return box.take(limit)

    def _flush(self, batch: Sequence[_Pending]) -> None:
        if any(p.reading is not None for p in batch) and not self._retry(
            "time-series store", lambda: self._write_readings(batch)
        ):
            return
        # Counted after the write: a reading the store refused has become a dead letter.
        readings = [p.reading for p in batch if p.reading is not None]
        letters = [p.letter for p in batch if p.letter is not None]
        if letters and not self._retry("dead-letter store", lambda: self._dead_letters.add(letters)):
            return
        for p in batch:
            if p.alarm_done is not None and not self._wait_alarm(p.alarm_done):
                return
        for p in batch:
            p.ack()
        self._counters.record_batch(readings, letters, batch[0].received_mono, len(batch))

    def _write_readings(self, batch: Sequence[_Pending]) -> None:
        readings = [p.reading for p in batch if p.reading is not None]
        try:
            self._store.write(readings)
        except StoreRejected as err:
            # The store refused something in the batch: store what it accepts one by one and
            # dead-letter the rest, rather than retrying a poison batch forever.
            log.error("store rejected a batch (%s); writing one by one", err)
            for p in batch:
                if p.reading is None:
                    continue
                try:
                    self._store.write([p.reading])
                except StoreRejected as one:
                    p.letter = DeadLetter(p.topic, p.payload, "store_rejected", str(one)[:500], p.received_at)
                    p.reading = None

    def _retry(self, what: str, action: Callable[[], None]) -> bool:
        """Run ``action`` until it succeeds, backing off; False if stopping first."""
        delay = self._settings.store_retry_min_s
        while True:
            try:
                action()
                if not self._counters.store_healthy:
                    log.warning("%s is back", what)
                self._counters.store_healthy = True
                return True
            except (StoreUnavailable, SQLAlchemyError, OSError) as err:
                self._counters.store_retries += 1
                if self._counters.store_healthy:
                    log.error("%s unavailable (%s); holding acks and retrying", what, err)
                self._counters.store_healthy = False
            if self._stopping.wait(delay):
                return False
            delay = min(delay * 2, self._settings.store_retry_max_s)

    def _wait_alarm(self, done: threading.Event) -> bool:
        while not done.wait(0.2):
            if self._stopping.is_set():
                return False
        return True

    # -- alarms -------------------------------------------------------------------------------

    def _alarm_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                alarm, done = self._alarms.get(timeout=0.2)
            except queue.Empty:
                continue
            delay = self._settings.store_retry_min_s
            while not self._stopping.is_set():
                try:
                    self._alarm_sink.accept(alarm)
                    done.set()
                    break
                except Exception:  # the alert engine's failure must not stop alarm hand-off
                    log.exception("alert engine did not accept alarm from %s; retrying", alarm.home_id)
                    self._counters.alarm_retries += 1
                    self._stopping.wait(delay)
                    delay = min(delay * 2, self._settings.store_retry_max_s)
