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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import SQLAlchemyError

from tecwatch.devices import Channel, Limits, Reading, Rejection, parse_message
from tecwatch.settings import IngestSettings

from .alarms import AlarmSink
from .deadletter import DeadLetter, DeadLetterStore
from .stats import IngestCounters, IngestStats
from .store import StoreUnavailable, TimeSeriesStore
from .store.base import StoreRejected

log = logging.getLogger(__name__)

Ack = Callable[[], None]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class _Pending:
    topic: str
    payload: bytes
    ack: Ack
    received_at: datetime
    received_mono: float
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
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._alarms: queue.SimpleQueue[tuple[Reading, threading.Event]] = queue.SimpleQueue()
        self._counters = IngestCounters()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- adapter side -------------------------------------------------------------------------

    def submit(self, topic: str, payload: bytes, ack: Ack, *, redelivered: bool = False, retained: bool = False) -> None:
        """Take one message. Never raises for bad input; fast enough for the network thread."""
        now = self._clock()
        c = self._counters
        c.received += 1
        if redelivered:
            c.redelivered += 1
        item = _Pending(topic, payload, ack, now, time.monotonic())
        result = parse_message(topic, payload, now, self._limits)
        if isinstance(result, Rejection):
            item.letter = DeadLetter(topic, payload, result.reason.value, result.detail, now)
        elif retained and result.channel is Channel.STATUS:
            # A retained status is the broker replaying a hub's last known state on subscribe,
            # not a new event; storing it again would invent an event at arrival time.
            c.retained_skipped += 1
        else:
            item.reading = result
            if result.alarm:
                c.alarms += 1
                item.alarm_done = threading.Event()
                self._alarms.put((result, item.alarm_done))
        self._queue.put(item)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("ingest-writer", self._writer_loop), ("ingest-alarms", self._alarm_loop)):
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
        return self._counters.snapshot(pending=self._queue.qsize())

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
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._settings.batch_max_wait_s
        limit = self._settings.batch_max_size
        get = self._queue.get
        while len(batch) < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _flush(self, batch: Sequence[_Pending]) -> None:
        readings = [p.reading for p in batch if p.reading is not None]
        if readings and not self._retry("time-series store", lambda: self._write_readings(batch)):
            return
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
