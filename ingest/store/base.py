"""The time-series store contract shared by InfluxDB and SQLite.

Both implementations pass the same contract tests (tests/test_store_contract.py).
Writes are idempotent: a reading is identified by (channel, home_id, device_id, ts at
millisecond precision); writing it again replaces it, so redelivered duplicates are harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tecwatch.devices import Reading


class StoreUnavailable(Exception):
    """The store could not durably accept or answer now; the caller should retry later."""


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
        home_id: str,
        start: datetime,
        end: datetime,
        device_id: str | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        """Readings of one home (optionally one device) with start <= ts < end, oldest first."""

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

    def close(self) -> None: ...
