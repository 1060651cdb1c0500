"""Backtest: run the activity-pattern rules over a past range of stored data, exactly as they
run live, and return the alerts they would have raised, so a rule can be tuned before it is
switched on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from tecwatch.alerts.baseline import learn
from tecwatch.alerts.patterns import PatternAlert, backtest
from tecwatch.alerts.signals import STATE_LOOKBACK, align, signals_from_readings
from tecwatch.store import TimeSeriesStore

MAX_READINGS_PER_HOME = 5_000_000


def backtest_store(
    store: TimeSeriesStore,
    home_ids: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    learn_days: int = 28,
    tz: str = "Europe/London",
    rules: Sequence[str] | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> list[PatternAlert]:
    """Baselines from the ``learn_days`` before ``start``, then every rule over [start, end)."""
    if end <= start:
        raise ValueError("the backtest range is empty: end must be after start")
    first = align(start - timedelta(days=learn_days), timedelta(minutes=5))
    readings = []
    for n, home_id in enumerate(home_ids, 1):
        # From a little earlier: the state a bed or hub was in when the range begins.
        readings += store.readings(home_id, first - STATE_LOOKBACK, end, limit=MAX_READINGS_PER_HOME)
        progress(n, len(home_ids))
    signals = signals_from_readings(readings, list(home_ids), first, end)
    baselines = learn(signals.window(first, start), tz=tz, days=learn_days)
    found = backtest(signals, baselines, start, end, tz=tz)
    return [a for a in found if rules is None or a.rule in rules]
