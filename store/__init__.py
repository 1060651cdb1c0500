"""Time-series stores: InfluxDB (production) and SQLite (embedded default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ActivityCount, DeviceLastSeen, StoreRejected, StoreUnavailable, TimeSeriesStore, apply_retention
from .influx import InfluxStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from pydantic import SecretStr

    from tecwatch.settings import StoreSettings


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def open_store(settings: StoreSettings) -> TimeSeriesStore:
    """The store the settings ask for. InfluxDB is contacted on first use, not here."""
    if settings.backend == "sqlite":
        return SQLiteStore(settings.sqlite_path)
    return InfluxStore(
        settings.influx_url,
        settings.influx_database,
        username=settings.influx_username,
        password=_secret(settings.influx_password),
        token=_secret(settings.influx_token),
        org=settings.influx_org,
        timeout_s=settings.influx_timeout_s,
    )


__all__ = [
    "ActivityCount", "DeviceLastSeen", "StoreRejected", "StoreUnavailable", "TimeSeriesStore", "apply_retention",
    "InfluxStore", "SQLiteStore", "open_store",
]
