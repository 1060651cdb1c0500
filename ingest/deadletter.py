"""Dead-letter store: messages that were rejected, kept with their raw bytes for inspection.

Lives in the registry database (SQLite by default, PostgreSQL in production) so every ingest
worker writes to, and an operator lists from, one place.
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
    select,
)
from sqlalchemy.engine import Engine

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
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    detail: str
    received_at: datetime
    id: int | None = None


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
                )
                for r in conn.execute(q)
            ]

    def count_by_reason(self) -> dict[str, int]:
        q = select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason)
        with self._engine.connect() as conn:
            return {reason: n for reason, n in conn.execute(q)}


def _as_utc(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written as UTC.
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
