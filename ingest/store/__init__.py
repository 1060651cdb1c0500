"""Time-series stores: InfluxDB (production) and SQLite (embedded default)."""

from .base import ActivityCount, DeviceLastSeen, StoreUnavailable, TimeSeriesStore

__all__ = ["ActivityCount", "DeviceLastSeen", "StoreUnavailable", "TimeSeriesStore"]
