"""Replay a stretch of signals as the alert service lives it: each night the baselines are
relearned from the whole days before (the same ``learn`` the service calls, on the same 28-day
window, empty days and all), then the rules run at every step of the day (the same ``_fire`` as
the minute passes), and a rule's hits become one alert per episode as the registry's episodes
make them. The backtest and bench/detection.py both go through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

import numpy as np

from .baseline import Baselines, learn
from .measures import Zones
from .patterns import EPISODE_GAP, LOOKBACK, PERSON_RULES, PatternAlert, dedup, hits
from .signals import Signals, empty

DAY = timedelta(days=1)
LEARN_DAYS = 28


@dataclass(frozen=True)
class Replay:
    alerts: list[PatternAlert]
    baselines: dict[datetime, Baselines]  # UTC midnight -> what was learned that night


def replay(
    signals: Signals, start: datetime, end: datetime, zones: Zones, *, learn_days: int = LEARN_DAYS,
    step: timedelta = timedelta(minutes=5),
) -> Replay:
    """Every alert the service would raise in [start, end), relearning at each UTC midnight;
    ``zones``: one time zone for every home, or each home's own."""
    if end <= start:
        raise ValueError("the backtest range is empty: end must be after start")
    fired: list[PatternAlert] = []
    learned: dict[datetime, Baselines] = {}
    # Where alerts about the person were raised so far: the learning leaves those days out.
    alerted = np.zeros((len(signals.home_ids), signals.n_buckets), bool)
    row = {h: i for i, h in enumerate(signals.home_ids)}
    day = datetime.combine(start.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc)
    while day < end:
        history = _padded(signals, day - learn_days * DAY, day)
        flags = _padded_flags(alerted, signals, history)
        base = learn(history, tz=zones, days=learn_days, alerted=flags)
        learned[day] = base
        lo, hi = max(start, day), min(end, day + DAY)
        window = signals.window(lo - LOOKBACK, hi)
        today = hits(window, base, lo, hi, step)
        for a in today:
            # An alert on the defaults says nothing about the day being unusual for this person.
            if a.rule in PERSON_RULES and a.detail.get("baseline_learned"):
                alerted[row[a.home_id], min(signals.n_buckets - 1, max(0, signals.index_of(a.at) - 1))] = True
        fired += today
        day += DAY
    return Replay(dedup(fired, step, EPISODE_GAP), learned)


def _padded_flags(alerted: np.ndarray, signals: Signals, window: Signals) -> np.ndarray:
    out = np.zeros((alerted.shape[0], window.n_buckets), bool)
    lo, hi = max(signals.start, window.start), min(signals.end, window.end)
    if hi > lo:
        n = signals.index_of(hi) - signals.index_of(lo)
        out[:, window.index_of(lo):window.index_of(lo) + n] = alerted[:, signals.index_of(lo):signals.index_of(lo) + n]
    return out


def _padded(signals: Signals, start: datetime, end: datetime) -> Signals:
    """[start, end) of ``signals``, with empty buckets where it has none (as the day cache gives)."""
    out = empty(signals.home_ids, start, end, signals.bucket)
    lo, hi = max(signals.start, out.start), min(signals.end, out.end)
    if hi > lo:
        n = signals.index_of(hi) - signals.index_of(lo)
        out.counts[:, out.index_of(lo):out.index_of(lo) + n] = signals.counts[:, signals.index_of(lo):signals.index_of(lo) + n]
    return out
