"""Learned per-home routines (wake, bed, night visits, usual quiet spells), for all homes at once.

Everything is numpy over (homes, buckets); Python loops only run over local days or hours. What
is measured (getting up, quiet spells, night visits) comes from ``measures``, which the pattern
rules use too, so learning and alerting measure things the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .measures import (
    STAY_ROOMS, WAKE_LEAD, Clock, Zones, at_night, bathroom_visit_starts, bed_stays, clock, day_marks, last_room,
    night_visits, quiet_spells, resting_then, sustained, up_signs, zone_groups, zone_of_each,
)
from .signals import DOOR_OPEN, MOTION_ANY, Signals

DEFAULT_WAKE, DEFAULT_BED = 9 * 60.0, 23 * 60.0
DEFAULT_VISITS, DEFAULT_VISITS_SD = 1.0, 1.0
DEFAULT_GAP_IN, DEFAULT_GAP_OUT = 4 * 60.0, 8 * 60.0  # minutes of quiet, at home / after the door
DEFAULT_STAY = np.array([30.0, 60.0])  # per STAY_ROOMS, until a stay is learned
DEFAULT_ACTIVE_HOURS = (8, 22)  # local hours assumed active before anything is learned
# Ceilings on what can be learned as usual, whatever the history holds: beyond these a quiet
# spell or a stay is a worry even for someone who once did it (minutes).
MAX_GAP_IN, MAX_GAP_OUT, MAX_GAP_REST = 6 * 60.0, 12 * 60.0, 10 * 60.0
DEFAULT_GAP_REST = 6 * 60.0  # quiet after sitting down or getting into bed, before anything is learned
MAX_STAY = np.array([60.0, 120.0])  # per STAY_ROOMS
LEARN_CHUNK = 1000  # homes per numpy pass: bounds the temporaries for very large estates


@dataclass(frozen=True)
class Baselines:
    home_ids: list[str]
    zones: tuple[str, ...]  # each home's time zone: every time of day here is local to the home
    learned: np.ndarray  # (H,) bool: False = too little history, defaults in use
    days_of_history: np.ndarray  # (H,) int
    profile_motion: np.ndarray  # (H, 168) mean motion triggers per hour of the week (Monday 00:00 = 0)
    profile_active: np.ndarray  # (H, 168) share of those hours with any activity
    active_by_hour: np.ndarray  # (H, 24) the same by hour of the day
    wake_median: np.ndarray  # (H,) local minutes after midnight
    wake_p90: np.ndarray
    wake_p10: np.ndarray
    # (H, 2) the same on weekdays and at weekends (WEEKDAYS, WEEKENDS): someone may sleep late on
    # Saturdays; the all-days value where there were too few mornings of the kind to say.
    wake_median_by_kind: np.ndarray
    wake_p90_by_kind: np.ndarray
    bed_median: np.ndarray  # (H,) local minutes after midnight of the evening (may pass 1440)
    night_visits_mean: np.ndarray  # (H,)
    night_visits_sd: np.ndarray
    gap_in: np.ndarray  # (H, 24) longest quiet spell seen at each hour, minutes, at home
    gap_out: np.ndarray  # (H, 24) the same when the front door was the last thing used
    gap_rest: np.ndarray  # (H,) the same after sitting down or getting into bed (a chair or bed sensor)
    stay_max: np.ndarray  # (H, len(STAY_ROOMS)) longest quiet after movement in only that room, minutes
    door_night_share: np.ndarray  # (H,) share of nights the front door was opened
    door_by_hour: np.ndarray  # (H, 24) share of nights the front door was opened in each hour of the night

    def rows(self, rows: np.ndarray | slice) -> Baselines:
        """Only the homes in ``rows``."""
        ids = self.home_ids[rows] if isinstance(rows, slice) else [self.home_ids[i] for i in rows]
        zones = self.zones[rows] if isinstance(rows, slice) else tuple(self.zones[i] for i in rows)
        arrays = {f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name not in ("home_ids", "zones")}
        return Baselines(home_ids=ids, zones=zones, **arrays)

    def values(self, home_index: int) -> dict[str, Any]:
        """What the rules judge one home by, as JSON (``from_values`` reads it back). The hour-of-week
        profiles are left out: no rule reads them, and they are most of the size."""
        out = {}
        for f in fields(self):
            if f.name not in _NOT_SAVED:
                value = np.asarray(getattr(self, f.name)[home_index])
                out[f.name] = (value.round(2) if value.dtype.kind == "f" else value).tolist()
        return out

    @classmethod
    def from_values(cls, home_id: str, zone: str, values: dict[str, Any]) -> Baselines:
        """One home's baselines from ``values`` (saved by the nightly learning)."""
        arrays = {k: np.asarray([v]) for k, v in values.items()}
        profiles = np.tile(arrays["active_by_hour"], 7).astype(np.float32)
        return cls(home_ids=[home_id], zones=(zone,), profile_motion=np.zeros_like(profiles),
                   profile_active=profiles, **arrays)

    def explain(self, home_index: int) -> dict[str, Any]:
        i = home_index
        hours = [h for h in range(24) if self.active_by_hour[i, h] >= 0.5]
        return {
            "home_id": self.home_ids[i],
            "timezone": self.zones[i],
            "learned": bool(self.learned[i]),
            "days_of_history": int(self.days_of_history[i]),
            "usual_wake": hhmm(self.wake_median[i]),
            "up_by": hhmm(self.wake_p90[i]),
            "up_by_weekdays": hhmm(self.wake_p90_by_kind[i, WEEKDAYS]),
            "up_by_weekends": hhmm(self.wake_p90_by_kind[i, WEEKENDS]),
            "usual_bedtime": hhmm(self.bed_median[i]),
            "night_bathroom_visits": f"{self.night_visits_mean[i]:.1f} ± {self.night_visits_sd[i]:.1f} a night",
            "usually_active_hours": f"{hours[0]:02d}:00-{hours[-1] + 1:02d}:00" if hours else "none",
            "longest_quiet_at_home": duration_text(float(self.gap_in[i].max())),
            "longest_stay": {room: duration_text(float(self.stay_max[i, r])) for r, (room, _) in enumerate(STAY_ROOMS)},
            "front_door_at_night": f"{self.door_night_share[i]:.0%} of nights",
            "usual_night_door_hours": usual_hours_text(self.door_by_hour[i]),
        }


_NOT_SAVED = ("home_ids", "zones", "profile_motion", "profile_active")
DOOR_HOUR_USUAL = 0.1  # the front door is usual in an hour of the night used on this share of nights


def usual_hours_text(door_by_hour: np.ndarray) -> str:
    """The hours of the night the front door is usually used in, e.g. "00:00-02:00", or "none"."""
    hours = [h for h in range(24) if door_by_hour[h] >= DOOR_HOUR_USUAL]
    spans: list[list[int]] = []
    for h in hours:
        if spans and spans[-1][1] == h:
            spans[-1][1] = h + 1
        else:
            spans.append([h, h + 1])
    return ", ".join(f"{a:02d}:00-{b % 24:02d}:00" for a, b in spans) or "none"


def hhmm(minutes: float) -> str:
    m = round(minutes) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def duration_text(minutes: float) -> str:
    m = round(minutes)
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def learn(
    signals: Signals, tz: Zones = "Europe/London", min_days: int = 7, days: int = 28,
    hub_offline: np.ndarray | None = None, alerted: np.ndarray | None = None,
) -> Baselines:
    """Baselines from the last ``days`` days of ``signals``, for every home, each in its own time
    zone (``tz``: one for all homes, or one per home).

    ``alerted``: (homes, buckets) like ``signals``, True where an alert about the person was
    raised; those days are left out, as are days with a hub outage and days nothing was heard.
    """
    zones = zone_of_each(tz, len(signals.home_ids))
    lo = max(0, signals.n_buckets - int(timedelta(days=days) / signals.bucket))
    sig = Signals(signals.home_ids, signals.time_of(lo), signals.bucket, signals.counts[:, lo:], signals.names)
    off = None if hub_offline is None else hub_offline[:, lo:]
    flagged = None if alerted is None else alerted[:, lo:]
    parts: list[tuple[np.ndarray | slice, dict[str, np.ndarray]]] = []
    for zone, rows in zone_groups(zones):
        clk = clock(sig, zone)
        ids = np.arange(len(zones))[rows]
        for a in range(0, len(ids), LEARN_CHUNK):
            # A run of rows is a slice (a view); a zone's scattered rows are copied, a chunk at a time.
            chunk = slice(a, a + LEARN_CHUNK) if isinstance(rows, slice) else ids[a:a + LEARN_CHUNK]
            parts.append((chunk, _learn_chunk(sig.rows(chunk), clk, min_days, None if off is None else off[chunk],
                                              None if flagged is None else flagged[chunk])))
    learned: dict[str, np.ndarray] = {}
    for chunk, values in parts:
        for k, v in values.items():
            if k not in learned:
                learned[k] = np.empty((len(zones),) + v.shape[1:], v.dtype)
            learned[k][chunk] = v
    return Baselines(home_ids=list(signals.home_ids), zones=tuple(zones), **learned)


def _learn_chunk(sig: Signals, clk: Clock, min_days: int, offline: np.ndarray | None,
                 alerted: np.ndarray | None) -> dict[str, np.ndarray]:
    homes, n = len(sig.home_ids), sig.n_buckets
    active = sig.activity()
    off = sig.offline() if offline is None else sig.offline() | offline
    seen = active | off | ~np.isnan(sig.temperature_c())
    # Days to learn from: the home was heard that day, its hub was not out, and no alert about
    # the person was raised (an unusual day must not become the usual). Weeks before installation
    # are silent, so they are left out too.
    day_onehot = np.zeros((n, len(clk.dates)), np.float32)
    day_onehot[np.arange(n), clk.day] = 1
    heard = (seen.astype(np.float32) @ day_onehot) > 0
    days_of_history = heard.sum(axis=1)
    unusual = (off.astype(np.float32) @ day_onehot) > 0
    if alerted is not None:
        unusual |= (alerted.astype(np.float32) @ day_onehot) > 0
    valid = heard & ~unusual  # (H, D)

    # Hour-of-week profile: mean motion per bucket, scaled to an hour, and the share of active hours,
    # over valid days only.
    how = clk.weekday * 24 + clk.hour
    how_onehot = np.zeros((n, 168), np.float32)
    how_onehot[np.arange(n), how] = 1
    bucket_valid = valid[:, clk.day].astype(np.float32)
    per_how = np.maximum(bucket_valid @ how_onehot, 1)
    hourly_factor = 60 / clk.bucket_min
    profile_motion = ((sig.counts[:, :, MOTION_ANY] * bucket_valid) @ how_onehot) / per_how * hourly_factor
    hour_key = clk.day * 24 + clk.hour
    starts = np.flatnonzero(np.r_[True, hour_key[1:] != hour_key[:-1]])
    hour_valid = valid[:, clk.day[starts]].astype(np.float32)
    hour_active = np.logical_or.reduceat(active, starts, axis=1).astype(np.float32) * hour_valid
    hour_how_onehot = how_onehot[starts]
    profile_active = (hour_active @ hour_how_onehot) / np.maximum(hour_valid @ hour_how_onehot, 1)
    hod_onehot = np.zeros((len(starts), 24), np.float32)
    hod_onehot[np.arange(len(starts)), clk.hour[starts]] = 1
    nights_per_hour = np.maximum(hour_valid @ hod_onehot, 1)
    active_by_hour = (hour_active @ hod_onehot) / nights_per_hour

    sus = sustained(active)
    up = up_signs(sig, sus)
    wake, bed = day_marks(up, clk, sus, bed_stays(sig))
    # Sustained activity is seen WAKE_LEAD buckets after it began; the kitchen or the door at once.
    at_once = np.take_along_axis(up & ~sus, np.maximum(wake, 0), axis=1)
    lead = np.where(at_once, 0.0, WAKE_LEAD * clk.bucket_min)
    wake_min = np.where((wake >= 0) & valid, clk.minute[np.maximum(wake, 0)] - lead, np.nan)
    bed_min = np.where((bed >= 0) & valid, clk.key[np.maximum(bed - 1, 0)] + clk.bucket_min
                       - np.arange(len(clk.dates)) * 1440.0, np.nan)
    visit_cum = bathroom_visit_starts(sig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first_bed, first_wake = np.nanmedian(bed_min, axis=1), np.nanpercentile(wake_min, 10, axis=1)
    # The night's bounds need the usual times, so count the visits once those are known.
    visits = night_visits(visit_cum, wake, bed, clk, np.nan_to_num(first_bed, nan=DEFAULT_BED),
                          np.nan_to_num(first_wake, nan=DEFAULT_WAKE - 60))
    visits[~valid] = np.nan

    # Quiet spells, treating an outage as activity: silence we could not hear is not silence.
    # Each spell is filed under the hour it began, so one spell is judged by one limit.
    last, quiet = quiet_spells(active | off)
    quiet_min = np.where(last >= 0, quiet * clk.bucket_min, 0.0)
    lastc = np.maximum(last, 0)
    resting = resting_then(sig.counts, lastc)
    went_out = (np.take_along_axis(sig.counts[:, :, DOOR_OPEN], lastc, axis=1) > 0) & ~resting
    began = clk.hour[lastc]
    day_starts = np.flatnonzero(np.r_[True, clk.day[1:] != clk.day[:-1]]) if n else np.zeros(0, np.int64)
    spell_day = np.full((homes, len(clk.dates)), np.nan)

    def daily_max(values: np.ndarray) -> np.ndarray:
        """(H, D) the largest value on each local day, NaN on days not to learn from."""
        spell_day[:, clk.day[day_starts]] = np.maximum.reduceat(values, day_starts, axis=1) if n else 0
        return np.where(valid, spell_day, np.nan)

    gap_in = np.zeros((homes, 24))
    on_feet = np.where(went_out | resting, 0.0, quiet_min)
    for h in range(24):
        gap_in[:, h] = robust_max(daily_max(np.where(began == h, on_feet, 0.0)))
    # An hour's limit is at least its neighbours': a spell beginning at 10:58 is no different from one at 11:02.
    gap_in = np.maximum(np.maximum(gap_in, np.roll(gap_in, 1, axis=1)), np.roll(gap_in, -1, axis=1))
    gap_out = np.repeat(robust_max(daily_max(np.where(went_out, quiet_min, 0.0)))[:, None], 24, axis=1)
    gap_rest = np.minimum(robust_max(daily_max(np.where(resting & ~went_out, quiet_min, 0.0))), MAX_GAP_REST)
    room_then = np.take_along_axis(last_room(sig.counts), lastc, axis=1)
    stay = np.zeros((homes, len(STAY_ROOMS)))
    for r in range(len(STAY_ROOMS)):
        stay[:, r] = robust_max(daily_max(np.where((room_then == r) & (last >= 0), quiet_min, 0.0)))
    gap_in, gap_out = np.minimum(gap_in, MAX_GAP_IN), np.minimum(gap_out, MAX_GAP_OUT)
    stay = np.minimum(stay, MAX_STAY[None, :])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled by the defaults below
        wake_median, wake_p90 = np.nanmedian(wake_min, axis=1), np.nanpercentile(wake_min, 90, axis=1)
        wake_p10, bed_median = np.nanpercentile(wake_min, 10, axis=1), np.nanmedian(bed_min, axis=1)
        v_mean, v_sd = np.nanmean(visits, axis=1), np.nanstd(visits, axis=1)
    by_kind = _by_kind_of_day(wake_min, clk, wake_median, wake_p90)
    bed_usual = np.where(np.isnan(bed_median), DEFAULT_BED, bed_median)
    wake_early = np.where(np.isnan(wake_p10), DEFAULT_WAKE, wake_p10)
    # The front door at night, hour by hour: a return home at 00:40 may be usual when 03:10 is not.
    door = sig.counts[:, :, DOOR_OPEN] > 0
    night_door = door & at_night(clk.minute[None, :], bed_usual[:, None], wake_early[:, None])
    hour_door = np.logical_or.reduceat(night_door, starts, axis=1).astype(np.float32) * hour_valid if n else night_door
    door_by_hour = (hour_door @ hod_onehot) / nights_per_hour if n else np.zeros((homes, 24))
    nights_with_door = (((night_door.astype(np.float32) @ day_onehot) > 0) & valid).sum(axis=1)
    door_share = nights_with_door / np.maximum(valid.sum(axis=1), 1)

    enough = (np.sum(~np.isnan(wake_min), axis=1) >= min_days // 2) & ~np.isnan(bed_median)
    learned = (valid.sum(axis=1) >= min_days) & enough

    def pick(value: np.ndarray, default: float | np.ndarray) -> np.ndarray:
        shape = (-1,) + (1,) * (np.ndim(value) - 1)
        return np.where(learned.reshape(shape), np.nan_to_num(value, nan=0.0), default)

    default_hours = np.zeros(24)
    default_hours[DEFAULT_ACTIVE_HOURS[0]:DEFAULT_ACTIVE_HOURS[1]] = 1
    return {
        "learned": learned,
        "days_of_history": days_of_history.astype(np.int64),
        "profile_motion": pick(profile_motion, 0.0).astype(np.float32),
        "profile_active": pick(profile_active, np.tile(default_hours, 7)).astype(np.float32),
        "active_by_hour": pick(active_by_hour, default_hours).astype(np.float32),
        "wake_median": pick(wake_median, DEFAULT_WAKE),
        "wake_p90": pick(wake_p90, DEFAULT_WAKE),
        "wake_p10": pick(wake_p10, DEFAULT_WAKE - 60),
        "wake_median_by_kind": pick(by_kind[0], DEFAULT_WAKE),
        "wake_p90_by_kind": pick(by_kind[1], DEFAULT_WAKE),
        "bed_median": pick(bed_median, DEFAULT_BED),
        "night_visits_mean": pick(v_mean, DEFAULT_VISITS),
        "night_visits_sd": pick(v_sd, DEFAULT_VISITS_SD),
        "gap_in": pick(gap_in, DEFAULT_GAP_IN),
        "gap_out": pick(gap_out, DEFAULT_GAP_OUT),
        "gap_rest": pick(gap_rest, DEFAULT_GAP_REST),
        "stay_max": pick(stay, DEFAULT_STAY),
        "door_night_share": pick(door_share, 0.0),
        "door_by_hour": pick(door_by_hour, np.zeros(24)).astype(np.float32),
    }


WEEKDAYS, WEEKENDS = 0, 1
KIND_MIN_DAYS = 3  # mornings of a kind (weekday, weekend) needed before they are judged apart
KIND_APART = 45.0  # and their usual wake times this far apart (minutes): fewer mornings are noisier


def weekend(weekday: np.ndarray) -> np.ndarray:
    """WEEKENDS for Saturday and Sunday (Monday = 0), else WEEKDAYS."""
    return np.where(np.asarray(weekday) >= 5, WEEKENDS, WEEKDAYS)


def _by_kind_of_day(wake_min: np.ndarray, clk: Clock, median: np.ndarray, p90: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(H, 2) usual and latest usual wake times on weekdays and at weekends; the all-days values
    for a home without KIND_MIN_DAYS mornings of each kind, or whose weekday and weekend mornings
    are usually within KIND_APART of each other (no weekly pattern worth the noisier figures)."""
    kind = weekend(np.array([d.weekday() for d in clk.dates], np.int64))
    medians, latest = np.empty((wake_min.shape[0], 2)), np.empty((wake_min.shape[0], 2))
    enough = np.ones(wake_min.shape[0], bool)
    for k in (WEEKDAYS, WEEKENDS):
        these = np.where(kind[None, :] == k, wake_min, np.nan)
        enough &= np.sum(~np.isnan(these), axis=1) >= KIND_MIN_DAYS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: the all-days value below
            medians[:, k], latest[:, k] = np.nanmedian(these, axis=1), np.nanpercentile(these, 90, axis=1)
    apart = enough & (np.abs(medians[:, WEEKENDS] - medians[:, WEEKDAYS]) >= KIND_APART)
    return (np.where(apart[:, None], medians, median[:, None]), np.where(apart[:, None], latest, p90[:, None]))


ROBUST_DAYS = 14  # from this many days on, the largest day is taken as an outlier


def robust_max(daily: np.ndarray) -> np.ndarray:
    """(H,) the second-largest of each home's daily values, or the largest while there are fewer
    than ROBUST_DAYS (a short history is more likely to miss a usual long day than to hold an
    unusual one, and days with alerts are left out already); NaN for a home with none.

    Holding a lone long day down in the first two weeks (to twice the next-longest) was tried:
    on the simulated homes of bench/detection.py one went from 0 to 8.3 false no_activity alerts
    per 30 days, its usual afternoon naps never learned because each day with an alert is left out."""
    ranked = np.sort(np.where(np.isnan(daily), -np.inf, daily), axis=1)
    count = np.sum(~np.isnan(daily), axis=1)
    if ranked.shape[1] == 0:
        return np.full(daily.shape[0], np.nan)
    second = ranked[:, -2] if ranked.shape[1] > 1 else ranked[:, -1]
    pick = np.where(count >= ROBUST_DAYS, second, ranked[:, -1])
    return np.where(count > 0, pick, np.nan)


def local_time_text(t: datetime, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%H:%M")
