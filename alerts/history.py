"""The weeks of signals nightly learning needs, assembled with as little re-reading as can be.

Each whole UTC day comes from the first of: the day cache, the live rolling window (which the
minute passes have folded reading by reading), or the store. A day recent enough to have late
deliveries still arriving is checked against the store's own per-home counts, and only the
homes that differ are folded again, so a quiet night re-reads nothing at county scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import numpy as np

from tecwatch.alerts.signalcache import DayCache
from tecwatch.alerts.signals import (
    READINGS,
    Fitted,
    STATE_LOOKBACK,
    STATE_TYPES,
    Signals,
    empty,
    signals_from_readings,
)
from tecwatch.devices import Reading
from tecwatch.store import TimeSeriesStore

RECENT_DAYS = 2  # an outbox may still deliver this many days late: check these days each night
MAX_READINGS = 50_000_000
WHOLE_DAY_SHARE = 4  # when over 1 in 4 homes (and over a few) need folding again, read the whole day
FEW_HOMES = 10


@dataclass
class FoldCounts:
    """Where the days came from, for the log line and the benchmark."""

    cached: int = 0
    live: int = 0
    folded: int = 0  # whole days read from the store
    homes_refolded: int = 0  # (home, day) pairs read again because the store holds more or less
    readings: int = 0  # raw readings read

    def __str__(self) -> str:
        return (f"{self.cached} days from the cache, {self.live} from the live window, {self.folded} read whole,"
                f" {self.homes_refolded} home-days read again; {self.readings} readings read")


def assemble(
    store: TimeSeriesStore,
    home_ids: list[str],
    first: date,
    days: int,
    today: date,
    bucket: timedelta,
    cache: DayCache | None = None,
    live: Signals | None = None,
    fitted: Mapping[tuple[str, str], Fitted] | None = None,
) -> tuple[Signals, FoldCounts]:
    """``days`` whole UTC days from ``first`` for these homes, as one Signals array; ``fitted``:
    each device's room and role from the registry, for the days folded from readings."""
    counts = FoldCounts()
    planes = [_day(store, home_ids, first + timedelta(days=n), today, bucket, cache, live, counts, fitted)
              for n in range(days)]
    start = datetime.combine(first, time(), tzinfo=timezone.utc)
    return Signals(home_ids, start, bucket, np.concatenate(planes, axis=2).transpose(1, 2, 0)), counts


def _day(
    store: TimeSeriesStore, home_ids: list[str], day: date, today: date, bucket: timedelta,
    cache: DayCache | None, live: Signals | None, counts: FoldCounts,
    fitted: Mapping[tuple[str, str], Fitted] | None = None,
) -> np.ndarray:
    """One day as (signals, homes, buckets)."""
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    blank = _planes(empty(home_ids[:1], start, end, bucket))[:, 0, :]
    found = cache.load(day, home_ids, blank) if cache is not None else None
    changed = False
    if found is not None:
        counts.cached += 1
    elif live is not None and live.start <= start and end <= live.end:
        found, changed = _from_live(live, home_ids, start, end, blank), True
        counts.live += 1
    if found is None:
        planes = _fold(store, home_ids, start, end, bucket, counts, fitted=fitted)
        counts.folded += 1
        changed = True
    else:
        planes, missing = found
        stale = set(missing)
        if day >= today - timedelta(days=RECENT_DAYS):
            stored = store.reading_counts(start, end)
            have = planes[READINGS].sum(axis=1)
            stale |= {i for i, h in enumerate(home_ids) if stored.get(h, 0) != have[i]}
        if stale:
            changed = True
            if len(stale) > max(FEW_HOMES, len(home_ids) // WHOLE_DAY_SHARE):
                planes = _fold(store, home_ids, start, end, bucket, counts, fitted=fitted)
                counts.folded += 1
            else:
                for i in sorted(stale):
                    planes[:, i, :] = _fold(store, [home_ids[i]], start, end, bucket, counts, one_home=True, fitted=fitted)[:, 0, :]
                counts.homes_refolded += len(stale)
    if cache is not None and changed and day < today:
        cache.save(day, home_ids, planes)
    return planes


def _from_live(live: Signals, home_ids: list[str], start: datetime, end: datetime,
               blank: np.ndarray) -> tuple[np.ndarray, list[int]]:
    window = _planes(live.window(start, end))
    row = {h: i for i, h in enumerate(live.home_ids)}
    out = np.empty((window.shape[0], len(home_ids), window.shape[2]), window.dtype)
    found = [i for i, h in enumerate(home_ids) if h in row]
    out[:, found, :] = window[:, [row[home_ids[i]] for i in found], :]
    missing = [i for i, h in enumerate(home_ids) if h not in row]
    out[:, missing, :] = blank[:, None, :]
    return out, missing


def _fold(store: TimeSeriesStore, home_ids: list[str], start: datetime, end: datetime, bucket: timedelta,
          counts: FoldCounts, one_home: bool = False,
          fitted: Mapping[tuple[str, str], Fitted] | None = None) -> np.ndarray:
    if one_home:  # one home's state sensors: simply read further back
        readings = store.readings(home_ids[0], start - STATE_LOOKBACK, end, limit=MAX_READINGS)
        signals = signals_from_readings(readings, home_ids, start, end, bucket, fitted=fitted)
    else:
        signals, _states, readings = fold_stored(store, home_ids, start, end, bucket, fitted=fitted)
    counts.readings += len(readings)
    return _planes(signals)


def fold_stored(
    store: TimeSeriesStore, home_ids: list[str], start: datetime, end: datetime, bucket: timedelta,
    states: list[Reading] | None = None, fitted: Mapping[tuple[str, str], Fitted] | None = None,
) -> tuple[Signals, list[Reading], list[Reading]]:
    """Every home's stored readings in [start, end) folded; also the state sensors' readings (for
    the next fold's ``states``) and the readings themselves. ``states`` are state-sensor readings
    from before ``start``; without them the store is asked for each state sensor's newest."""
    if states is None:
        prior = store.latest_readings(STATE_TYPES, start - STATE_LOOKBACK, start)
    else:
        prior = states_at(states, start)
    readings = store.readings(None, start, end, limit=MAX_READINGS)
    signals = signals_from_readings(prior + readings, home_ids, start, end, bucket, fitted=fitted)
    return signals, prior + [r for r in readings if r.device_type in STATE_TYPES], readings


def states_at(states: list[Reading], t: datetime) -> list[Reading]:
    """The newest reading before ``t`` of each state sensor."""
    newest: dict[tuple[str, str], Reading] = {}
    for r in states:
        key = (r.home_id, r.device_id)
        if r.ts < t and (key not in newest or r.ts >= newest[key].ts):
            newest[key] = r
    return list(newest.values())


def _planes(signals: Signals) -> np.ndarray:
    """(signals, homes, buckets), contiguous: the layout days are kept and joined in."""
    return np.ascontiguousarray(signals.counts.transpose(2, 0, 1))
