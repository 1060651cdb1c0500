"""The gateway's store-and-forward outbox and its message sequence, on disk (SQLite).

Every platform message is written here before it is published, and removed only once the
platform confirms it handled the message durably (stored or dead-lettered, an alarm accepted by
the alert engine; see ``confirm``), not when the broker acknowledges it: a broker that crashes
loses what it acknowledged since its last save. A message the broker took is marked sent and
sent again if no confirmation comes, after ``resend_after_s`` and then backing off, so a
platform that is down for a while is not flooded with copies. Messages leave alarms first,
then in the order they were made. The outbox has a size cap: past it the oldest non-alarm
readings are dropped with a loud warning and a count; alarms are never dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Queued:
    id: int
    topic: str
    payload: bytes
    alarm: bool
    seq: int | None = None  # None: from before confirmations; the broker's acknowledgement settles it


class Outbox:
    def __init__(self, path: Path | str, max_messages: int = 500_000, *, resend_after_s: float = 30.0,
                 resend_max_s: float = 600.0, clock: Callable[[], float] = time.time):
        self.max_messages = max_messages
        self.resend_after_s = resend_after_s
        self.resend_max_s = resend_max_s
        self._clock = clock
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " alarm INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        # seq: what the platform confirms; queued_at: when it was made; sent_at: when the broker
        # last took it (NULL: to send); attempts: how often it was sent (for the backoff).
        for column in ("seq INTEGER", "queued_at REAL", "sent_at REAL", "attempts INTEGER NOT NULL DEFAULT 0"):
            if column.split()[0] not in columns:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column}")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_order ON outbox (alarm DESC, id)")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq)")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (alarm DESC, id) WHERE sent_at IS NULL")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO counters VALUES ('seq', 0), ('dropped', 0)")

    def next_seq(self) -> int:
        """The next message sequence number; monotonic across restarts."""
        with self._lock:
            return self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()[0]

    def put(self, topic: str, payload: bytes, alarm: bool = False) -> None:
        """Durably queue one message that carries no sequence number of ours (the heartbeat):
        settled by the broker's acknowledgement (returns once it is on disk)."""
        self._put(lambda _seq: (topic, payload, alarm), confirmed_by_seq=False)

    def put_sequenced(self, make: Callable[[int], tuple[str, bytes, bool]]) -> int:
        """Take the next sequence number, build ``(topic, payload, alarm)`` with it and queue
        the message, all in one transaction (one disk sync); returns the sequence number. The
        message stays until the platform confirms that sequence number."""
        return self._put(make, confirmed_by_seq=True)

    def _put(self, make: Callable[[int], tuple[str, bytes, bool]], confirmed_by_seq: bool) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()[0]
                topic, payload, alarm = make(seq)
                self._db.execute("INSERT INTO outbox (alarm, topic, payload, seq, queued_at) VALUES (?, ?, ?, ?, ?)",
                                 (int(alarm), topic, payload, seq if confirmed_by_seq else None, self._clock()))
                over = self._count() - self.max_messages
                if over > 0:
                    dropped = self._db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE alarm = 0 ORDER BY id LIMIT ?)",
                        (over,),
                    ).rowcount
                    if dropped:
                        self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (dropped,))
                        log.warning(
                            "OUTBOX FULL (%d messages): dropped the %d oldest readings; alarms are kept. "
                            "The platform broker has been unreachable for a long time.",
                            self.max_messages, dropped,
                        )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

    def peek(self, limit: int = 100, skip: Collection[int] = ()) -> list[Queued]:
        """The next messages to send, alarms first, then oldest first: those not yet sent, and
        those sent whose confirmation is overdue; leaving out ``skip`` (already on their way)."""
        # Two queries, each on its own index, so that thousands of messages sent and awaiting
        # confirmation are not read again on every call: those never sent, and those sent at
        # least resend_after_s ago whose (doubling) wait is over.
        now, wanted = self._clock(), limit + len(skip)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, alarm, seq FROM outbox WHERE sent_at IS NULL"
                " ORDER BY alarm DESC, id LIMIT ?", (wanted,)).fetchall()
            rows += self._db.execute(
                "SELECT id, topic, payload, alarm, seq FROM outbox WHERE sent_at <= ?"
                " AND sent_at + min(? * (1 << min(attempts - 1, 20)), ?) <= ?",
                (now - self.resend_after_s, self.resend_after_s, self.resend_max_s, now)).fetchall()
        rows.sort(key=lambda row: (-row[3], row[0]))
        return [Queued(i, t, bytes(p), bool(a), q) for i, t, p, a, q in rows if i not in skip][:limit]

    def settle(self, taken: Collection[int], refused: Collection[int] = ()) -> None:
        """The broker took ``taken`` (kept until confirmed, or removed if they carry no seq) and
        refused ``refused`` for good (removed; the caller has said so loudly). One transaction."""
        with self._lock, self._transaction():
            now = self._clock()
            self._db.executemany("UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ? AND seq IS NOT NULL",
                                 [(now, i) for i in taken])
            self._db.executemany("DELETE FROM outbox WHERE id = ? AND seq IS NULL", [(i,) for i in taken])
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in refused])

    def confirm(self, seqs: Collection[int]) -> int:
        """The platform has these messages durably: forget them. Returns how many were here."""
        with self._lock, self._transaction():
            gone = sum(self._db.execute("DELETE FROM outbox WHERE seq = ?", (q,)).rowcount for q in seqs)
        return gone

    def remove(self, ids: Collection[int]) -> None:
        """Forget these messages whatever their state (one transaction)."""
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def unconfirmed(self) -> tuple[int, float | None]:
        """How many messages the broker took but the platform has not yet confirmed, and the
        age in seconds of the oldest message still in the outbox (None when it is empty)."""
        with self._lock:
            count = self._db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0]
            first = self._db.execute("SELECT queued_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        return count, (None if first is None or first[0] is None else max(0.0, self._clock() - first[0]))

    def depth(self) -> int:
        with self._lock:
            return self._count()

    def dropped(self) -> int:
        with self._lock:
            return self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _count(self) -> int:
        return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
