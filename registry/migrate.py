"""Bring the registry database up to the current schema (run on every start)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: PostgreSQL serialises concurrent migrations on it.
_LOCK_KEY = 0x7EC_0001


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations. Safe when several processes start at once: PostgreSQL
    serialises them on an advisory lock, SQLite on a lock file beside the database."""
    cfg = alembic_config()
    with _sqlite_lock(engine), engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table's columns by copying it to a new table; with foreign keys
            # enforced, dropping the old one fails while other tables refer to it. The switch
            # only takes effect outside a transaction; the keys are checked before committing.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"a migration left rows that refer to nothing: {broken[:5]}")
        finally:
            if sqlite:
                conn.rollback()  # nothing is left open: the upgrade committed, or failed and rolled back
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


@contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with _sqlite_lock(engine), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
