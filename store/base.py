"""The time-series store contract shared by InfluxDB and SQLite.

Both implementations pass the same contract tests (tests/test_store_contract.py).
Writes are idempotent: a reading is identified by (channel, home_id, device_id, ts at
millisecond precision, seq); writing it again replaces it, so redelivered duplicates are
harmless, while two readings of one device in the same millisecond are both kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from tecwatch.devices import Reading

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The store could not durably accept or answer now; the caller should retry later."""


class StoreRejected(Exception):
    """The store refused the data or the query (e.g. a field type conflict); retrying won't help.

    ``readings`` lists the readings refused before sending, when the store can tell which ones
    (the others in the same write were stored). A refusal by the server itself carries its error
    text in the message; InfluxDB stores the valid points of such a batch and drops the rest.
    """

    def __init__(self, message: str, readings: Sequence[Reading] = ()) -> None:
        super().__init__(message)
        self.readings = list(readings)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def to_ms(ts: datetime) -> int:
    """Milliseconds since the epoch, truncated: the storage key of a reading's time."""
    return (ts - EPOCH) // _MS


def ceil_ms(ts: datetime) -> int:
    """Milliseconds since the epoch, rounded up, for range bounds: ms >= ceil_ms(t) iff ms >= t."""
    return -((EPOCH - ts) // _MS)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def bucket_ms(bucket: timedelta) -> int:
    """A bucket size in whole milliseconds (buckets are aligned to multiples of it since the epoch)."""
    if bucket <= timedelta(0) or bucket % _MS:
        raise ValueError(f"bucket must be a positive whole number of milliseconds, not {bucket}")
    return bucket // _MS


def count_order(c: ActivityCount) -> tuple:
    """The order both stores return activity counts in: home, room (None first), bucket."""
    return (c.home_id, c.room is not None, c.room or "", c.bucket_start)


@dataclass(frozen=True, slots=True)
class ActivityCount:
    """How many activity readings a home's room had in one time bucket."""

    home_id: str
    room: str | None
    bucket_start: datetime  # UTC, aligned to the bucket size since the Unix epoch
    count: int


@dataclass(frozen=True, slots=True)
class DeviceLastSeen:
    home_id: str
    device_id: str
    device_type: str
    last_ts: datetime  # UTC event time of the newest stored reading/event/status


class TimeSeriesStore(Protocol):
    def write(self, readings: Sequence[Reading]) -> None:
        """Durably store readings. Returns only once they are durable; raises StoreUnavailable."""

    def readings(
        self,
        home_id: str | None,
        start: datetime,
        end: datetime,
        device_id: str | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        """Readings of one home (optionally one device), or of every home when ``home_id`` is
        None, with start <= ts < end, oldest first."""

    def activity_counts(
        self,
        start: datetime,
        end: datetime,
        bucket: timedelta = timedelta(hours=1),
        home_ids: Sequence[str] | None = None,
    ) -> list[ActivityCount]:
        """Per home, per room, activity counts in fixed buckets; empty buckets are left out."""

    def last_seen(self, home_ids: Sequence[str] | None = None) -> list[DeviceLastSeen]:
        """The newest event time per device (all homes, or the given ones)."""

    def latest_readings(self, device_types: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        """The newest reading of each device of these types with start <= ts < end: the state
        a state sensor (bed, hub) was in when a later range begins."""

    def reading_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        """How many readings, events and statuses each home has with start <= ts < end (homes
        with none are left out). Cheap next to reading them: it tells what arrived late."""

    def delete_before(self, cutoff: datetime) -> int | None:
        """Remove everything with ts < cutoff (retention). Returns how many, when the store can tell."""

    def delete_home(self, home_id: str) -> int | None:
        """Remove every reading, event and status of one home (erasure)."""

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers now (cheap)."""

    def close(self) -> None: ...


def apply_retention(store: TimeSeriesStore, days: int, now: datetime | None = None) -> None:
    """Delete readings older than ``days`` (the nightly retention job)."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    deleted = store.delete_before(cutoff)
    log.info("retention: readings before %s deleted (%s)", cutoff.isoformat(timespec="seconds"),
             "count unknown" if deleted is None else f"{deleted:,}")
