"""The gateway's store-and-forward outbox and its message sequence, on disk (SQLite).

Every platform message is written here before it is published and removed only once the
platform broker has acknowledged it, so a broker outage or a gateway restart loses nothing.
Messages leave alarms first, then in the order they were made. The outbox has a size cap:
past it the oldest non-alarm readings are dropped with a loud warning and a count; alarms
are never dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Queued:
    id: int
    topic: str
    payload: bytes
    alarm: bool


class Outbox:
    def __init__(self, path: Path | str, max_messages: int = 500_000):
        self.max_messages = max_messages
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " alarm INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_order ON outbox (alarm DESC, id)")
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO counters VALUES ('seq', 0), ('dropped', 0)")

    def next_seq(self) -> int:
        """The next message sequence number; monotonic across restarts."""
        with self._lock:
            return self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()[0]

    def put(self, topic: str, payload: bytes, alarm: bool = False) -> None:
        """Durably queue one message (returns once it is on disk)."""
        self.put_sequenced(lambda _seq: (topic, payload, alarm))

    def put_sequenced(self, make: Callable[[int], tuple[str, bytes, bool]]) -> int:
        """Take the next sequence number, build ``(topic, payload, alarm)`` with it and queue
        the message, all in one transaction (one disk sync); returns the sequence number."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()[0]
                topic, payload, alarm = make(seq)
                self._db.execute("INSERT INTO outbox (alarm, topic, payload) VALUES (?, ?, ?)", (int(alarm), topic, payload))
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
        """The next messages to send, alarms first, then oldest first, leaving out ``skip``
        (the ids already on their way)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, alarm FROM outbox ORDER BY alarm DESC, id LIMIT ?", (limit + len(skip),)
            ).fetchall()
        return [Queued(i, t, bytes(p), bool(a)) for i, t, p, a in rows if i not in skip][:limit]

    def remove(self, ids: Collection[int]) -> None:
        """Forget messages the platform broker has acknowledged (one transaction)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")

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
