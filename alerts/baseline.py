"""Learned per-home routines (wake, bed, night visits, usual quiet spells), for all homes at once.

Everything is numpy over (homes, buckets); Python loops only run over local days or hours.
The per-bucket helpers here (clock, sustained activity, daily wake/bed detection, quiet spells)
are shared with the pattern rules, so learning and alerting measure things the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .signals import (
    ACTIVITY_SIGNALS, BED_IN, BED_OUT, DOOR_OPEN, KETTLE, MOTION_ANY, MOTION_BATHROOM, MOTION_KITCHEN, SEAT, Signals,
)

# "Up and about": at least 4 of the last 6 five-minute buckets had activity. A night-time
# bathroom trip (under ~10 minutes) does not reach that; getting up for the day does (on the
# simulator, seen 15-20 minutes after getting up, and falsely on 2 of ~1,400 nights, when two
# trips came close together; night windows are clamped to the usual times for that reason).
# Dense activity is seen WAKE_LEAD buckets after it began.
SUSTAIN_BUCKETS = 6
SUSTAIN_MIN_ACTIVE = 4
WAKE_LEAD = SUSTAIN_MIN_ACTIVE - 1
WAKE_SEARCH = (4 * 60, 15 * 60)  # local minutes: look for getting up between 04:00 and 15:00
BED_SEARCH = (18 * 60, 28 * 60)  # and for going to bed between 18:00 and 04:00 the next day
DEFAULT_WAKE, DEFAULT_BED = 9 * 60.0, 23 * 60.0
DEFAULT_VISITS, DEFAULT_VISITS_SD = 1.0, 1.0
DEFAULT_GAP_IN, DEFAULT_GAP_OUT = 4 * 60.0, 8 * 60.0  # minutes of quiet, at home / after the door
# Rooms where a long stay with nothing moving is a worry (a fall), each with its own motion
# signal, and the stay assumed usual until one is learned. Not the bedroom: rest is usual there.
STAY_ROOMS: tuple[tuple[str, int], ...] = (("bathroom", MOTION_BATHROOM), ("kitchen", MOTION_KITCHEN))
DEFAULT_STAY = np.array([30.0, 60.0])
DEFAULT_ACTIVE_HOURS = (8, 22)  # local hours assumed active before anything is learned
# Ceilings on what can be learned as usual, whatever the history holds: beyond these a quiet
# spell or a stay is a worry even for someone who once did it (minutes).
MAX_GAP_IN, MAX_GAP_OUT, MAX_GAP_REST = 6 * 60.0, 12 * 60.0, 10 * 60.0
DEFAULT_GAP_REST = 6 * 60.0  # quiet after sitting down or getting into bed, before anything is learned
MAX_STAY = np.array([60.0, 120.0])  # per STAY_ROOMS
BED_STAY_BUCKETS = 24  # in bed this long (2 h of 5-minute buckets) is going to bed, not a lie-down
LEARN_CHUNK = 1000  # homes per numpy pass: bounds the temporaries for very large estates


@dataclass(frozen=True)
class Clock:
    """Local wall-clock facts for each bucket of a Signals array (all homes share one zone)."""

    day: np.ndarray  # (B,) int: local day number, 0 = the local date of the first bucket
    minute: np.ndarray  # (B,) float: local minutes after midnight
    weekday: np.ndarray  # (B,) int: Monday = 0
    key: np.ndarray  # (B,) float: day * 1440 + minute, never decreasing (DST's repeated hour flattened)
    dates: list[date]
    bucket_min: float

    def at(self, day: int, minute: float) -> int:
        """The first bucket at or after local ``minute`` of local day ``day`` (minute may pass 1440)."""
        return int(np.searchsorted(self.key, day * 1440.0 + minute))

    @property
    def hour(self) -> np.ndarray:
        return (self.minute // 60).astype(np.int64)


def clock(signals: Signals, tz: str) -> Clock:
    zone = ZoneInfo(tz)
    n = signals.n_buckets
    first = signals.start.astimezone(zone).date()
    day, minute, weekday = np.zeros(n, np.int64), np.zeros(n), np.zeros(n, np.int64)
    for b in range(n):
        loc = (signals.start + b * signals.bucket).astimezone(zone)
        day[b] = (loc.date() - first).days
        minute[b] = loc.hour * 60 + loc.minute + loc.second / 60
        weekday[b] = loc.weekday()
    dates = [first + timedelta(days=int(d)) for d in range(int(day[-1]) + 1)] if n else []
    key = np.maximum.accumulate(day * 1440.0 + minute) if n else np.zeros(0)
    return Clock(day, minute, weekday, key, dates, signals.bucket / timedelta(minutes=1))


def sustained(active: np.ndarray) -> np.ndarray:
    """(H, B) bool: the window of SUSTAIN_BUCKETS ending at each bucket was mostly active."""
    c = np.zeros((active.shape[0], active.shape[1] + 1), np.int32)
    np.cumsum(active, axis=1, out=c[:, 1:])
    lo = np.maximum(np.arange(active.shape[1]) + 1 - SUSTAIN_BUCKETS, 0)
    return c[:, 1:] - c[:, lo] >= SUSTAIN_MIN_ACTIVE


def up_signs(sig: Signals, sus: np.ndarray) -> np.ndarray:
    """(H, B) bool: signs of being up for the day: sustained activity, or the front door, the
    kitchen, the kettle or the chair (a night trip to the bathroom is none of these)."""
    c = sig.counts
    return sus | (c[:, :, DOOR_OPEN] > 0) | (c[:, :, MOTION_KITCHEN] > 0) | (c[:, :, KETTLE] > 0) | (c[:, :, SEAT] > 0)


def resting_then(counts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(H, C) bool: the bucket ``at`` (last heard) was sitting down or getting into bed, so the
    quiet since is rest, not someone on their feet."""
    rows = np.arange(counts.shape[0])[:, None]
    return (counts[:, :, SEAT][rows, at] > 0) | (counts[:, :, BED_IN][rows, at] > 0)


def bed_stays(sig: Signals) -> np.ndarray:
    """(H, B) bool: the bed sensor says someone got into bed here and stayed BED_STAY_BUCKETS."""
    c = sig.counts
    into, out = c[:, :, BED_IN] > 0, c[:, :, BED_OUT] > 0
    if not into.any():
        return into
    idx = np.arange(into.shape[1])
    in_bed = np.maximum.accumulate(np.where(into, idx, -1), axis=1) > np.maximum.accumulate(np.where(out, idx, -1), axis=1)
    cum = np.zeros((into.shape[0], into.shape[1] + 1), np.int32)
    np.cumsum(in_bed, axis=1, out=cum[:, 1:])
    ahead = np.minimum(idx + BED_STAY_BUCKETS, into.shape[1])
    return into & (cum[:, ahead] - cum[:, idx] == ahead - idx)


def day_marks(up: np.ndarray, clk: Clock, sus: np.ndarray | None = None,
              to_bed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per home and local day: the bucket where getting up is seen, and the bucket going to bed ends.

    Getting up is the first sign of being up after 04:00 (for sustained activity, it began about
    WAKE_LEAD buckets earlier); -1 where there was none in the data. Going to bed is the first
    stay in bed the bed sensor saw in the evening (``to_bed``), else the end of the last
    sustained activity (``sus``, default ``up``).
    """
    sus = up if sus is None else sus
    homes, days = up.shape[0], len(clk.dates)
    wake, bed = np.full((homes, days), -1, np.int64), np.full((homes, days), -1, np.int64)
    for d in range(days):
        lo, hi = clk.at(d, WAKE_SEARCH[0]), clk.at(d, WAKE_SEARCH[1])
        if hi > lo:
            seg = up[:, lo:hi]
            wake[:, d] = np.where(seg.any(axis=1), lo + seg.argmax(axis=1), -1)
        lo, hi = clk.at(d, BED_SEARCH[0]), clk.at(d, BED_SEARCH[1])
        if hi > lo:
            seg = sus[:, lo:hi][:, ::-1]
            bed[:, d] = np.where(seg.any(axis=1), hi - seg.argmax(axis=1), -1)
            if to_bed is not None:
                seg = to_bed[:, lo:hi]
                bed[:, d] = np.where(seg.any(axis=1), lo + seg.argmax(axis=1) + 1, bed[:, d])
    return wake, bed


def quiet_spells(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(last active bucket at or before each bucket, -1 if none; buckets since then)."""
    idx = np.arange(active.shape[1])
    last = np.maximum.accumulate(np.where(active, idx, -1), axis=1)
    return last, idx - last


def last_room(counts: np.ndarray) -> np.ndarray:
    """The STAY_ROOMS index of the room that was a bucket's only activity (so they were last seen
    there), or -1; ``counts`` is (..., signals), e.g. a Signals' counts or buckets gathered from it."""
    others = counts[..., DOOR_OPEN] > 0  # the other activity signals, ORed plane by plane
    for s in ACTIVITY_SIGNALS:
        if s not in (MOTION_ANY, DOOR_OPEN):
            others |= counts[..., s] > 0
    out = np.full(counts.shape[:-1], -1, np.int8)
    for r, (_name, plane) in enumerate(STAY_ROOMS):
        out[(counts[..., plane] > 0) & (counts[..., MOTION_ANY] == counts[..., plane]) & ~others] = r
    return out


def bathroom_visit_starts(signals: Signals) -> np.ndarray:
    """(H, B+1) cumulative count of bathroom episodes started (runs of buckets with bathroom motion).

    No lull is bridged: two trips ten minutes apart are two trips; a long quiet spell in one
    trip may count twice, but it does so when learning too.
    """
    bath = signals.counts[:, :, MOTION_BATHROOM] > 0
    starts = bath.copy()
    starts[:, 1:] &= ~bath[:, :-1]
    out = np.zeros((bath.shape[0], bath.shape[1] + 1), np.int32)
    np.cumsum(starts, axis=1, out=out[:, 1:])
    return out


def night_visits(
    visit_cum: np.ndarray, wake: np.ndarray, bed: np.ndarray, clk: Clock,
    usual_bed: np.ndarray | None, usual_wake: np.ndarray | None,
) -> np.ndarray:
    """(H, D) bathroom visits in the night that begins on each local day; NaN where unknown.

    The night runs from the end of the evening's sustained activity (which lags going to bed a
    little) until getting up. Given the usual times (bed; early wake), a missing time falls back
    to them, and a night is never cut shorter than from an hour after the usual bedtime to half an
    hour before the usual early wake (two close trips can look like going to bed or getting up).
    """
    homes, days = wake.shape
    out = np.full((homes, days), np.nan)
    rows = np.arange(homes)
    for d in range(days - 1):
        lo = np.where(bed[:, d] >= 0, bed[:, d], -1)
        hi = np.where(wake[:, d + 1] >= 0, wake[:, d + 1] - WAKE_LEAD, -1)
        if usual_bed is not None and usual_wake is not None:
            late_bed = np.searchsorted(clk.key, d * 1440.0 + usual_bed + 60)
            early_wake = np.searchsorted(clk.key, (d + 1) * 1440.0 + usual_wake - 30)
            lo = np.where(lo < 0, late_bed - 12, np.minimum(lo, late_bed))
            hi = np.where(hi < 0, early_wake, np.maximum(hi, early_wake))
        ok = (lo >= 0) & (hi > lo) & (hi < visit_cum.shape[1])
        lo, hi = np.clip(lo, 0, visit_cum.shape[1] - 1), np.clip(hi, 0, visit_cum.shape[1] - 1)
        out[:, d] = np.where(ok, visit_cum[rows, hi] - visit_cum[rows, lo], np.nan)
    return out


def at_night(minute: np.ndarray, bed: np.ndarray, wake_early: np.ndarray) -> np.ndarray:
    """Whether local ``minute`` falls in the usual night: 30 min after bed to 15 min before waking."""
    m = np.where(minute < 720, minute + 1440, minute)
    return (m >= bed + 30) & (m < wake_early + 1440 - 15)


@dataclass(frozen=True)
class Baselines:
    home_ids: list[str]
    tz: str
    learned: np.ndarray  # (H,) bool: False = too little history, defaults in use
    days_of_history: np.ndarray  # (H,) int
    profile_motion: np.ndarray  # (H, 168) mean motion triggers per hour of the week (Monday 00:00 = 0)
    profile_active: np.ndarray  # (H, 168) share of those hours with any activity
    active_by_hour: np.ndarray  # (H, 24) the same by hour of the day
    wake_median: np.ndarray  # (H,) local minutes after midnight
    wake_p90: np.ndarray
    wake_p10: np.ndarray
    bed_median: np.ndarray  # (H,) local minutes after midnight of the evening (may pass 1440)
    night_visits_mean: np.ndarray  # (H,)
    night_visits_sd: np.ndarray
    gap_in: np.ndarray  # (H, 24) longest quiet spell seen at each hour, minutes, at home
    gap_out: np.ndarray  # (H, 24) the same when the front door was the last thing used
    gap_rest: np.ndarray  # (H,) the same after sitting down or getting into bed (a chair or bed sensor)
    stay_max: np.ndarray  # (H, len(STAY_ROOMS)) longest quiet after movement in only that room, minutes
    door_night_share: np.ndarray  # (H,) share of nights the front door was opened
    door_by_hour: np.ndarray  # (H, 24) share of nights the front door was opened in each hour of the night

    def explain(self, home_index: int) -> dict[str, Any]:
        i = home_index
        hours = [h for h in range(24) if self.active_by_hour[i, h] >= 0.5]
        return {
            "home_id": self.home_ids[i],
            "learned": bool(self.learned[i]),
            "days_of_history": int(self.days_of_history[i]),
            "usual_wake": hhmm(self.wake_median[i]),
            "up_by": hhmm(self.wake_p90[i]),
            "usual_bedtime": hhmm(self.bed_median[i]),
            "night_bathroom_visits": f"{self.night_visits_mean[i]:.1f} ± {self.night_visits_sd[i]:.1f} a night",
            "usually_active_hours": f"{hours[0]:02d}:00-{hours[-1] + 1:02d}:00" if hours else "none",
            "longest_quiet_at_home": duration_text(float(self.gap_in[i].max())),
            "longest_stay": {room: duration_text(float(self.stay_max[i, r])) for r, (room, _) in enumerate(STAY_ROOMS)},
            "front_door_at_night": f"{self.door_night_share[i]:.0%} of nights",
            "usual_night_door_hours": usual_hours_text(self.door_by_hour[i]),
        }


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
    signals: Signals, tz: str = "Europe/London", min_days: int = 7, days: int = 28,
    hub_offline: np.ndarray | None = None, alerted: np.ndarray | None = None,
) -> Baselines:
    """Baselines from the last ``days`` days of ``signals``, for every home.

    ``alerted``: (homes, buckets) like ``signals``, True where an alert about the person was
    raised; those days are left out, as are days with a hub outage and days nothing was heard.
    """
    lo = max(0, signals.n_buckets - int(timedelta(days=days) / signals.bucket))
    sig = Signals(signals.home_ids, signals.time_of(lo), signals.bucket, signals.counts[:, lo:], signals.names)
    off = None if hub_offline is None else hub_offline[:, lo:]
    flagged = None if alerted is None else alerted[:, lo:]
    clk = clock(sig, tz)
    parts = []
    for a in range(0, len(sig.home_ids), LEARN_CHUNK):
        part = Signals(sig.home_ids[a:a + LEARN_CHUNK], sig.start, sig.bucket, sig.counts[a:a + LEARN_CHUNK], sig.names)
        parts.append(_learn_chunk(part, clk, min_days, None if off is None else off[a:a + LEARN_CHUNK],
                                  None if flagged is None else flagged[a:a + LEARN_CHUNK]))
    fields = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    return Baselines(home_ids=list(signals.home_ids), tz=tz, **fields)


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
    wake, bed = day_marks(up_signs(sig, sus), clk, sus, bed_stays(sig))
    lead = WAKE_LEAD * clk.bucket_min
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


ROBUST_DAYS = 14  # from this many days on, the largest day is taken as an outlier


def robust_max(daily: np.ndarray) -> np.ndarray:
    """(H,) the second-largest of each home's daily values, or the largest while there are fewer
    than ROBUST_DAYS (a short history is more likely to miss a usual long day than to hold an
    unusual one, and days with alerts are left out already); NaN for a home with none."""
    ranked = np.sort(np.where(np.isnan(daily), -np.inf, daily), axis=1)
    count = np.sum(~np.isnan(daily), axis=1)
    if ranked.shape[1] == 0:
        return np.full(daily.shape[0], np.nan)
    second = ranked[:, -2] if ranked.shape[1] > 1 else ranked[:, -1]
    pick = np.where(count >= ROBUST_DAYS, second, ranked[:, -1])
    return np.where(count > 0, pick, np.nan)


def local_time_text(t: datetime, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%H:%M")
