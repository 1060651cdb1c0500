"""Backtest: run the activity-pattern rules over a past range of stored data as the alert service
would have run them (``replay``: relearning each night from the days before, then the minute
passes), and return the alerts they would have raised, so a rule can be tuned before it is
switched on. Also a home's learned routine, in words."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta, timezone

from tecwatch.alerts.baseline import learn
from tecwatch.alerts.patterns import PatternAlert
from tecwatch.alerts.replay import LEARN_DAYS, replay
from tecwatch.alerts.signals import STATE_LOOKBACK, Fitted, Signals, signals_from_readings
from tecwatch.store import TimeSeriesStore

MAX_READINGS_PER_HOME = 5_000_000


def _unknown(store: TimeSeriesStore, home_ids: Sequence[str]) -> None:
    heard = {d.home_id for d in store.last_seen()}
    missing = [h for h in home_ids if h not in heard]
    if missing:
        raise ValueError(f"no readings stored for {', '.join(missing)}: check the home ids")


def _signals(store: TimeSeriesStore, home_ids: Sequence[str], first: datetime, end: datetime,
             fitted: Mapping[tuple[str, str], Fitted] | None, progress: Callable[[int, int], None]) -> Signals:
    readings = []
    for n, home_id in enumerate(home_ids, 1):
        # From a little earlier: the state a bed, chair or hub was in when the range begins.
        readings += store.readings(home_id, first - STATE_LOOKBACK, end, limit=MAX_READINGS_PER_HOME)
        progress(n, len(home_ids))
    return signals_from_readings(readings, list(home_ids), first, end, fitted=fitted)


def backtest_store(
    store: TimeSeriesStore,
    home_ids: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    learn_days: int = LEARN_DAYS,
    tz: str = "Europe/London",
    zones: Mapping[str, str] | None = None,
    rules: Sequence[str] | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    fitted: Mapping[tuple[str, str], Fitted] | None = None,
) -> list[PatternAlert]:
    """Every rule over [start, end), relearning each night from the ``learn_days`` before it, each
    home in its own time zone (``zones``; ``tz`` for a home not in it).

    Each alert's ``detail`` says whether a learned baseline was used (``baseline_learned``) and
    the usual values it was judged against. Raises ValueError for an empty range or a home
    with no stored readings."""
    if end <= start:
        raise ValueError("the backtest range is empty: end must be after start")
    _unknown(store, home_ids)
    first = datetime.combine(start.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc) - timedelta(days=learn_days)
    signals = _signals(store, home_ids, first, end, fitted, progress)
    found = replay(signals, start, end, [(zones or {}).get(h, tz) for h in home_ids], learn_days=learn_days).alerts
    return [a for a in found if rules is None or a.rule in rules]


def baseline_in_words(store: TimeSeriesStore, home_id: str, now: datetime, *, tz: str = "Europe/London",
                      learn_days: int = LEARN_DAYS, fitted: Mapping[tuple[str, str], Fitted] | None = None) -> list[str]:
    """What tonight's learning would make of the home's routine, as the service learns it; times
    are local to the home (``tz``, its zone)."""
    _unknown(store, [home_id])
    today = datetime.combine(now.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc)
    signals = _signals(store, [home_id], today - timedelta(days=learn_days), today, fitted, lambda d, t: None)
    info = learn(signals, tz=tz, days=learn_days).explain(0)
    stays = ", ".join(f"{room} {limit}" for room, limit in info["longest_stay"].items())
    lines = [
        f"{home_id}: " + (f"routine learned from {info['days_of_history']} days heard"
                          if info["learned"] else
                          f"not enough history yet ({info['days_of_history']} days heard): the usual defaults apply"),
        f"Times are local to the home ({info['timezone']}).",
        f"Usually up at {info['usual_wake']}, and up by {info['up_by']} on all but the latest mornings "
        f"(by {info['up_by_weekdays']} on weekdays, {info['up_by_weekends']} at weekends).",
        f"Usually goes to bed at about {info['usual_bedtime']}.",
        f"Usually active {info['usually_active_hours']}; the longest usual quiet spell at home is "
        f"{info['longest_quiet_at_home']}.",
        f"Night-time bathroom visits: {info['night_bathroom_visits']}.",
        f"Longest usual stay with nothing moving: {stays}.",
        f"Front door at night: {info['front_door_at_night']}; usual hours: {info['usual_night_door_hours']}.",
    ]
    return lines


