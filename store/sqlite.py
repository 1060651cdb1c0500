"""The embedded time-series store: one SQLite file, no server to run."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from tecwatch.devices import Channel, Reading, make_reading

from .base import (
    ActivityCount,
    DeviceLastSeen,
    StoreRejected,
    StoreUnavailable,
    bucket_ms,
    ceil_ms,
    count_order,
    from_ms,
    to_ms,
)

_READINGS = """
CREATE TABLE IF NOT EXISTS readings (
    channel TEXT NOT NULL,
    home_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_type TEXT NOT NULL,
    room TEXT,
    ts_ms INTEGER NOT NULL,
    seq INTEGER,
    -- seq, or -1 without one: part of the key, so two readings of one device in the same
    -- millisecond (a door opened and closed) are both kept, and a redelivered copy replaces itself.
    seq_key INTEGER NOT NULL,
    activity INTEGER NOT NULL,
    values_json TEXT NOT NULL,
    PRIMARY KEY (channel, home_id, device_id, ts_ms, seq_key)
)"""
_SCHEMA = _READINGS + """;
CREATE INDEX IF NOT EXISTS readings_home_ts ON readings (home_id, ts_ms);
-- The newest event time per device, kept up to date on every write: the health pass asks for
-- it every minute, and a GROUP BY over all readings would read the whole table each time.
CREATE TABLE IF NOT EXISTS device_last_seen (
    home_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_type TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    PRIMARY KEY (home_id, device_id)
);
"""

_SEEN = """
INSERT INTO device_last_seen (home_id, device_id, device_type, ts_ms) VALUES (?, ?, ?, ?)
ON CONFLICT (home_id, device_id) DO UPDATE SET
    device_type = CASE WHEN excluded.ts_ms >= ts_ms THEN excluded.device_type ELSE device_type END,
    ts_ms = max(ts_ms, excluded.ts_ms)
"""

# Last write wins, as in InfluxDB: a redelivered reading replaces itself.
_UPSERT = """
INSERT INTO readings (channel, home_id, device_id, device_type, room, ts_ms, seq, seq_key, activity, values_json)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (channel, home_id, device_id, ts_ms, seq_key) DO UPDATE SET
    device_type = excluded.device_type,
    room = excluded.room,
    activity = excluded.activity,
    values_json = excluded.values_json
"""

_COLUMNS = "channel, home_id, device_id, device_type, room, ts_ms, seq, values_json"


def _home_filter(home_ids: Sequence[str] | None) -> tuple[str, list[str]]:
    # One JSON parameter instead of one per home: no limit on how many homes are asked for.
    if home_ids is None:
        return "", []
    return " AND home_id IN (SELECT value FROM json_each(?))", [json.dumps(list(home_ids))]


def _row(r: Reading) -> tuple:
    return (
        r.channel.value,
        r.home_id,
        r.device_id,
        r.device_type,
        r.room,
        to_ms(r.ts),
        r.seq,
        -1 if r.seq is None else r.seq,
        1 if r.activity else 0,
        json.dumps(r.values, separators=(",", ":"), allow_nan=False),
    )


def _key_readings_by_seq(conn: sqlite3.Connection) -> None:
    """A store from before seq was part of a reading's key: rebuild its table once."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(readings)")}
    if not columns or "seq_key" in columns:
        return
    with conn:
        conn.execute("BEGIN")  # the module would not open a transaction for DDL: all or nothing
        conn.execute("ALTER TABLE readings RENAME TO readings_before_seq_key")
        conn.execute("DROP INDEX IF EXISTS readings_home_ts")
        conn.execute(_READINGS)
        conn.execute("INSERT INTO readings SELECT channel, home_id, device_id, device_type, room, ts_ms, seq,"
                     " COALESCE(seq, -1), activity, values_json FROM readings_before_seq_key")
        conn.execute("DROP TABLE readings_before_seq_key")


class SQLiteStore:
    """TimeSeriesStore on SQLite (WAL, synchronous=FULL). Safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection behind a lock: SQLite has one writer anyway, and the queries are short.
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk (WAL fsynced) before write() returns.
            self._conn.execute("PRAGMA synchronous=FULL")
            # Deleted rows are zeroed in place, not left in free pages (erasure); only deletes pay.
            self._conn.execute("PRAGMA secure_delete=ON")
            _key_readings_by_seq(self._conn)
            self._conn.executescript(_SCHEMA)
            with self._conn:
                # A store from before the table existed: fill it once.
                if self._conn.execute("SELECT NOT EXISTS (SELECT 1 FROM device_last_seen)").fetchone()[0]:
                    self._conn.execute(
                        "INSERT INTO device_last_seen SELECT home_id, device_id, device_type, MAX(ts_ms)"
                        " FROM readings GROUP BY home_id, device_id")

    def write(self, readings: Sequence[Reading]) -> None:
        rows, refused = [], []
        newest: dict[tuple[str, str], tuple[str, int]] = {}
        for r in readings:
            try:
                row = _row(r)
            except (ValueError, TypeError):  # NaN/infinity or a value JSON cannot hold
                refused.append(r)
                continue
            rows.append(row)
            key, ts = (r.home_id, r.device_id), row[5]
            if key not in newest or ts >= newest[key][1]:
                newest[key] = (r.device_type, ts)
        if rows:
            try:
                with self._lock, self._conn:  # one transaction: all or nothing
                    self._conn.executemany(_UPSERT, rows)
                    self._conn.executemany(_SEEN, [(h, d, t, ts) for (h, d), (t, ts) in newest.items()])
            except sqlite3.OperationalError as err:  # locked, disk full, I/O error
                raise StoreUnavailable(f"SQLite store {self.path}: {err}") from err
        if refused:
            raise StoreRejected(
                f"{len(refused)} of {len(readings)} readings have values that cannot be stored"
                " (non-finite numbers or unsupported types); the others were stored",
                refused,
            )

    def readings(
        self,
        home_id: str | None,
        start: datetime,
        end: datetime,
        device_id: str | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        if limit <= 0:  # SQLite would read a negative LIMIT as "no limit"
            return []
        sql = f"SELECT {_COLUMNS} FROM readings WHERE ts_ms >= ? AND ts_ms < ?"
        params: list[object] = [ceil_ms(start), ceil_ms(end)]
        if home_id is not None:
            sql += " AND home_id = ?"
            params.append(home_id)
        if device_id is not None:
            sql += " AND device_id = ?"
            params.append(device_id)
        sql += " ORDER BY ts_ms, channel, home_id, device_id LIMIT ?"
        params.append(limit)
        return self._to_readings(self._query(sql, params))

    @staticmethod
    def _to_readings(rows: list[tuple]) -> list[Reading]:
        return [
            make_reading(
                channel=Channel(channel),
                home_id=home,
                device_id=device,
                device_type=device_type,
                room=room,
                ts=from_ms(ts_ms),
                seq=seq,
                values=json.loads(values_json),
            )
            for channel, home, device, device_type, room, ts_ms, seq, values_json in rows
        ]

    def activity_counts(
        self,
        start: datetime,
        end: datetime,
        bucket: timedelta = timedelta(hours=1),
        home_ids: Sequence[str] | None = None,
    ) -> list[ActivityCount]:
        size = bucket_ms(bucket)
        where, params = _home_filter(home_ids)
        sql = (
            "SELECT home_id, room, (ts_ms / ?) * ? AS b, COUNT(*) FROM readings"
            f" WHERE activity = 1 AND ts_ms >= ? AND ts_ms < ?{where}"
            " GROUP BY home_id, room, b"
        )
        rows = self._query(sql, [size, size, ceil_ms(start), ceil_ms(end), *params])
        return sorted((ActivityCount(home, room, from_ms(b), n) for home, room, b, n in rows), key=count_order)

    def last_seen(self, home_ids: Sequence[str] | None = None) -> list[DeviceLastSeen]:
        where, params = _home_filter(home_ids)
        sql = (
            "SELECT home_id, device_id, device_type, ts_ms FROM device_last_seen"
            f" WHERE 1{where} ORDER BY home_id, device_id"
        )
        return [DeviceLastSeen(h, d, t, from_ms(ms)) for h, d, t, ms in self._query(sql, params)]

    def latest_readings(self, device_types: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        if not device_types:
            return []
        # SQLite takes the bare columns from the row holding MAX(ts_ms).
        sql = (
            "SELECT channel, home_id, device_id, device_type, room, MAX(ts_ms), seq, values_json FROM readings"
            f" WHERE device_type IN ({', '.join('?' * len(device_types))}) AND ts_ms >= ? AND ts_ms < ?"
            " GROUP BY home_id, device_id ORDER BY home_id, device_id"
        )
        return self._to_readings(self._query(sql, [*device_types, ceil_ms(start), ceil_ms(end)]))

    def reading_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        sql = "SELECT home_id, COUNT(*) FROM readings WHERE ts_ms >= ? AND ts_ms < ? GROUP BY home_id"
        return dict(self._query(sql, [ceil_ms(start), ceil_ms(end)]))

    def delete_before(self, cutoff: datetime) -> int:
        return self._delete("ts_ms < ?", [ceil_ms(cutoff)])

    def delete_home(self, home_id: str) -> int:
        deleted = self._delete("home_id = ?", [home_id])
        self._purge_deleted()
        return deleted

    def _purge_deleted(self) -> None:
        """Leave no copy of deleted rows in the files. secure_delete zeroes the rows themselves,
        but a page rebalanced earlier can still hold an old copy of a row in its unused space,
        and the write-ahead log holds earlier versions of pages: rebuild the file (VACUUM: it
        takes about as long as copying it, and needs that much free space), then copy the log
        into it and truncate the log. Waits up to the busy timeout for other connections."""
        try:
            with self._lock:
                self._conn.execute("VACUUM")
                busy, _frames, _copied = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError as err:
            raise StoreUnavailable(f"SQLite store {self.path}: {err}") from err
        if busy:
            raise StoreUnavailable(f"SQLite store {self.path}: other readers kept the write-ahead log from being"
                                   " emptied; the rows are deleted, ask again to finish")

    def _delete(self, where: str, params: Sequence[object]) -> int:
        try:
            with self._lock, self._conn:
                deleted = self._conn.execute(f"DELETE FROM readings WHERE {where}", params).rowcount
                self._conn.execute(f"DELETE FROM device_last_seen WHERE {where}", params)
        except sqlite3.OperationalError as err:
            raise StoreUnavailable(f"SQLite store {self.path}: {err}") from err
        return deleted

    def ping(self) -> None:
        self._query("SELECT 1", [])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as err:
            raise StoreUnavailable(f"SQLite store {self.path}: {err}") from err

