"""Relational database engines (registry, dead letters): SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url


def make_engine(url: str) -> Engine:
    """An engine for the registry database; SQLite gets WAL, full durability and secure delete."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")  # as PostgreSQL does
        # Deleted and overwritten rows are zeroed, not left in free space (erasure). Only freeing
        # space costs anything: inserts are as before.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    return engine


def purge_deleted(engine: Engine) -> bool:
    """SQLite: leave no copy of deleted rows in the files. secure_delete zeroes the rows
    themselves, but a page rebalanced earlier can still hold an old copy of a row in its unused
    space, and the write-ahead log holds earlier versions of pages: rebuild the file (VACUUM),
    then copy the log into it and truncate the log. Waits for readers on older snapshots up to
    the busy timeout; False if they still kept the log from being emptied. Other databases:
    nothing to do here."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM refuses a transaction
        conn.exec_driver_sql("VACUUM")
        busy, _frames, _copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return not busy
