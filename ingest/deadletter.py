"""Dead-letter store: messages that were rejected, kept with their raw bytes for inspection.

Lives in the registry database (SQLite by default, PostgreSQL in production) so every ingest
worker writes to, and an operator lists from, one place. Only the first few KB of a payload
are kept (with its original length): enough to see what was wrong, not a place to store
whatever a publisher sends. Dead letters are deleted after a retention period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Engine

from tecwatch.registry.migrate import upgrade

metadata = MetaData()

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("topic", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("reason", String(40), nullable=False, index=True),
    Column("detail", Text, nullable=False),
    Column("payload_length", Integer, nullable=True),  # the original size; NULL before it was kept
)

# Exception texts and payload fragments end up in the detail: keep it printable and bounded.
_MAX_DETAIL = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    detail: str
    received_at: datetime
    id: int | None = None
    payload_length: int | None = None


def dead_letter(topic: str, payload: bytes, reason: str, detail: str, received_at: datetime,
                keep_bytes: int = 4096) -> DeadLetter:
    """A dead letter keeping the first ``keep_bytes`` of the payload and its original length.
    Text that no database column would take (NUL, lone surrogates) is escaped."""
    return DeadLetter(_text(topic, 1000), payload[:keep_bytes], reason, _text(detail, _MAX_DETAIL), received_at,
                      payload_length=len(payload))


def _text(value: str, limit: int) -> str:
    value = value[:limit]
    if "\x00" in value or not value.isprintable():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return value


class DeadLetterStore:
    def __init__(self, engine: Engine):
        self._engine = engine
        upgrade(engine)  # the registry's migrations own this table

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Durably keep rejected messages (one transaction)."""
        if not letters:
            return
        rows = [
            {
                "received_at": d.received_at,
                "topic": d.topic,
                "payload": d.payload,
                "reason": d.reason,
                "detail": d.detail,
                "payload_length": d.payload_length,
            }
            for d in letters
        ]
        with self._engine.begin() as conn:
            conn.execute(insert(dead_letters), rows)

    def list(self, reason: str | None = None, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Newest first."""
        q = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit).offset(offset)
        if reason:
            q = q.where(dead_letters.c.reason == reason)
        with self._engine.connect() as conn:
            return [
                DeadLetter(
                    id=r.id,
                    topic=r.topic,
                    payload=bytes(r.payload),
                    reason=r.reason,
                    detail=r.detail,
                    received_at=_as_utc(r.received_at),
                    payload_length=r.payload_length,
                )
                for r in conn.execute(q)
            ]

    def delete_before(self, cutoff: datetime) -> int:
        """Retention: forget dead letters received before ``cutoff``."""
        with self._engine.begin() as conn:
            return conn.execute(dead_letters.delete().where(dead_letters.c.received_at < cutoff)).rowcount

    def delete_home(self, home_id: str) -> int:
        """Erasure: forget every dead letter of one home (see ``forget_home_letters``)."""
        with self._engine.begin() as conn:
            return forget_home_letters(conn, home_id)

    def count_by_reason(self) -> dict[str, int]:
        q = select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason)
        with self._engine.connect() as conn:
            return {reason: n for reason, n in conn.execute(q)}


def forget_home_letters(conn: Connection, home_id: str) -> int:
    """Delete, in the connection's transaction, the dead letters sent on the home's topics
    (``tec/v1/{home_id}/...``) and those that claimed to come from it on another home's topic
    (their detail quotes its id, as ``home_mismatch`` does)."""
    topic = dead_letters.c.topic
    prefix = f"tec/v1/{home_id}"
    # substr, not LIKE: SQLite's LIKE ignores case, and home ids do not.
    ours = or_(topic == prefix, func.substr(topic, 1, len(prefix) + 1) == prefix + "/",
               dead_letters.c.detail.contains(repr(home_id), autoescape=True))
    return conn.execute(dead_letters.delete().where(ours)).rowcount


def _as_utc(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written as UTC.
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
