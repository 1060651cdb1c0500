"""Ingest: validate each message, hand alarms over at once, store in batches, then acknowledge.

Transport-agnostic: the MQTT adapter calls ``submit`` with an ``ack`` callable per message.
A message is acknowledged only after everything it caused is durable: its reading (or its
dead letter) and, for an alarm, the alert engine's acceptance. Until then the broker keeps it
and redelivers it after a crash, so nothing accepted is lost; redelivered duplicates are
idempotent in the store.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import SQLAlchemyError

from tecwatch.devices import Channel, Reading, Rejection, parse_message
from tecwatch.devices.payloads import MAX_SEQ, for_alert_engine
from tecwatch.devices.validation import Limits, parse_topic
from tecwatch.health import Health
from tecwatch.settings import IngestSettings
from tecwatch.store import StoreUnavailable, TimeSeriesStore
from tecwatch.store.base import StoreRejected
from tecwatch.supervise import Supervisor

from .alarms import AlarmHandOff, AlarmSink, PendingAlarm
from .deadletter import DeadLetter, DeadLetterStore, dead_letter
from .mailbox import Mailbox
from .stats import IngestCounters, IngestStats

log = logging.getLogger(__name__)

Ack = Callable[[], None]

# While a batch fills, the writer looks at it this often.
_POLL_S = 0.005
INTERNAL_ERROR = "internal_error"


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
    alarm: PendingAlarm | None = None
    # Whom to confirm the message to once it is durable: the gateway's home and its seq.
    home_id: str | None = None
    seq: int | None = None


class IngestService:
    def __init__(
        self,
        store: TimeSeriesStore,
        dead_letters: DeadLetterStore,
        alarm_sink: AlarmSink,
        settings: IngestSettings,
        clock: Callable[[], datetime] = utc_now,
        supervisor: Supervisor | None = None,
        confirm: Callable[[str, list[int]], None] | None = None,
    ):
        self._supervisor = supervisor or Supervisor()
        # Tells a home's gateway which of its messages are durably handled (see devices.confirm_topic).
        self._confirm = confirm
        self._store = store
        self._dead_letters = dead_letters
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
        self._counters = IngestCounters()
        self._stopping = threading.Event()
        self._alarms = AlarmHandOff(alarm_sink, settings, self._stopping)
        self._threads: list[threading.Thread] = []
        self._last_progress = time.monotonic()

    # -- adapter side -------------------------------------------------------------------------

    def submit(self, topic: str, payload: bytes, ack: Ack, *, redelivered: bool = False, retained: bool = False) -> None:
        """Take one message. Never raises: whatever goes wrong with one message makes it a dead
        letter, which is acknowledged like any other, so it is never redelivered for ever."""
        c = self._counters
        c.received += 1
        if redelivered:
            c.redelivered += 1
        now = self._clock()
        item = _Pending(topic, payload, ack, time.monotonic(), now)
        try:
            self._classify(item, retained)
        except Exception as err:  # noqa: BLE001 - a bug or an input nobody foresaw
            log.exception("internal error on a message on %r; dead-lettered", topic[:200])
            item.reading, item.alarm = None, None
            item.letter = self._letter(item, INTERNAL_ERROR, f"{type(err).__name__}: {err}")
        self._validated.put(item)

    def _classify(self, item: _Pending, retained: bool) -> None:
        # A retained copy is the broker replaying an old message on subscribe: its time is taken
        # as it is, never replaced by the receive time as a live alarm's would be.
        result = parse_message(item.topic, item.payload, item.received_at, self._limits,
                               allow_clock_skew=not retained)
        if isinstance(result, Rejection):
            item.letter = self._letter(item, result.reason.value, result.detail)
            item.home_id, item.seq = sender(item.topic, item.payload)
            return
        item.home_id, item.seq = result.home_id, result.seq
        if retained and result.channel is Channel.STATUS:
            # A retained status is the broker replaying a hub's last known state on subscribe,
            # not a new event; storing it again would invent an event at arrival time.
            self._counters.retained_skipped += 1
        else:
            item.reading = result
            if for_alert_engine(result):  # alarms, cancels, low batteries: never behind the store
                self._counters.alarms += result.alarm
                item.alarm = PendingAlarm(result)
                self._alarms.put(item.alarm)

    def _letter(self, item: _Pending, reason: str, detail: str) -> DeadLetter:
        return dead_letter(item.topic, item.payload, reason, detail, item.received_at,
                           self._settings.dead_letter_keep_bytes)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("ingest-writer", self._writer_loop), ("ingest-alarms", self._alarms.run)):
            self._threads.append(self._supervisor.spawn(name, target, self._stopping))

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
        return self._counters.snapshot(pending=len(self._validated), alarm_retries=self._alarms.retries,
                                       alarm_failures=self._alarms.failed)

    def health(self) -> Health:
        """Unhealthy when work is waiting and nothing was stored or acknowledged for
        ``stall_after_s`` (a stuck thread, a store or alert engine that is down)."""
        stats = self.stats()
        now = time.monotonic()
        waiting = stats.received - self._counters.settled
        problem = None
        quiet = now - self._last_progress
        if waiting and quiet > self._settings.stall_after_s:
            problem = f"{waiting} messages waiting and none stored or acknowledged for {quiet:.0f} s"
        alarms_quiet = now - self._alarms.last_progress
        if self._alarms.waiting() and alarms_quiet > self._settings.stall_after_s:
            problem = (f"{self._alarms.waiting()} alarms waiting and none accepted by the alert engine for "
                       f"{alarms_quiet:.0f} s")
        return Health(problem, stats.summary())

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
        if letters and not self._retry("dead-letter store", lambda: self._keep_letters(letters)):
            return
        for p in batch:
            if p.alarm is not None and not self._wait_alarm(p.alarm.done):
                return
        failed = [self._letter(p, INTERNAL_ERROR, f"alarm not raised: {p.alarm.failure}")
                  for p in batch if p.alarm is not None and p.alarm.failure]
        if failed and not self._retry("dead-letter store", lambda: self._keep_letters(failed)):
            return
        for p in batch:
            p.ack()
        self._counters.record_batch(readings, letters, batch[0].received_mono, len(batch))
        self._last_progress = time.monotonic()
        if self._confirm is not None:
            self._send_confirmations(batch)

    def _send_confirmations(self, batch: Sequence[_Pending]) -> None:
        by_home: dict[str, list[int]] = {}
        for p in batch:
            if p.home_id is not None and p.seq is not None:
                by_home.setdefault(p.home_id, []).append(p.seq)
        for home_id, seqs in by_home.items():
            try:
                self._confirm(home_id, seqs)
            except Exception:  # noqa: BLE001 - the gateway sends again what it does not hear of
                log.exception("could not confirm %d messages to %s", len(seqs), home_id)

    def _write_readings(self, batch: Sequence[_Pending]) -> None:
        readings = [p.reading for p in batch if p.reading is not None]
        try:
            self._store.write(readings)
        except (StoreUnavailable, SQLAlchemyError, OSError):
            raise  # retried
        except Exception as err:  # noqa: BLE001 - StoreRejected, or a fault with some reading
            # Store what it accepts one by one and dead-letter the rest, rather than retrying
            # a poison batch for ever.
            log.error("store refused a batch (%s: %s); writing one by one", type(err).__name__, err)
            for p in batch:
                if p.reading is not None:
                    self._write_one(p)

    def _write_one(self, p: _Pending) -> None:
        try:
            self._store.write([p.reading])
            return
        except StoreRejected as err:
            reason, detail = "store_rejected", str(err)
        except (StoreUnavailable, SQLAlchemyError, OSError):
            raise
        except Exception as err:  # noqa: BLE001
            # Is it this reading, or a store failing in a way nobody foresaw? A store that still
            # answers says it is the reading; one that does not is retried like any outage.
            self._store.ping()
            reason, detail = INTERNAL_ERROR, f"{type(err).__name__}: {err}"
        log.error("reading on %s dead-lettered: %s", p.topic, detail[:300])
        p.letter = self._letter(p, reason, detail)
        p.reading = None

    def _keep_letters(self, letters: list[DeadLetter]) -> None:
        try:
            self._dead_letters.add(letters)
            return
        except SQLAlchemyError as err:
            if not _is_data_error(err):
                raise  # the database is down: retried
        for letter in letters:  # one the database will not take: keep the others whole
            try:
                self._dead_letters.add([letter])
            except SQLAlchemyError as err:
                if not _is_data_error(err):
                    raise
                log.error("dead letter on %r could not be kept whole (%s); keeping its reason", letter.topic[:200], err)
                self._dead_letters.add([DeadLetter(
                    letter.topic.encode("ascii", "backslashreplace").decode(), b"", letter.reason,
                    f"{letter.detail[:300]!a} (payload not kept: {type(err).__name__})", letter.received_at,
                    payload_length=letter.payload_length)])

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


def sender(topic: str, payload: bytes) -> tuple[str | None, int | None]:
    """The home and seq of a message that was rejected, where they can still be read, so its
    gateway hears it was handled (as a dead letter) and does not send it again and again."""
    where = parse_topic(topic)
    if isinstance(where, Rejection) or len(payload) > 64 * 1024:
        return None, None
    try:
        seq = json.loads(payload).get("seq")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return where.home_id, None
    return where.home_id, seq if type(seq) is int and 0 <= seq <= MAX_SEQ else None


def _is_data_error(err: SQLAlchemyError) -> bool:
    """The database refused the data itself (e.g. a NUL in text on PostgreSQL), not the connection."""
    from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

    return isinstance(err, (DataError, IntegrityError, ProgrammingError))
