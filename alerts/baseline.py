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

from .signals import DOOR_OPEN, MOTION_ANY, MOTION_BATHROOM, MOTION_KITCHEN, PENDANT, Signals

# "Up and about": at least 4 of the last 6 five-minute buckets had activity. A night-time
# bathroom trip (under ~10 minutes) does not reach that; getting up for the day does (on the
# simulator, seen 15-20 minutes after getting up, and falsely on 2 of ~1,400 nights, when two
# trips came close together; night windows are clamped to the usual times for that reason).
# Dense activity is seen WAKE_LEAD buckets after it began.
SUSTAIN_BUCKETS = 6
SUSTAIN_MIN_ACTIVE = 4
WAKE_LEAD = SUSTAIN_MIN_ACTIVE - 1
WAKE_SEARCH = (4 * 60, 14 * 60)  # local minutes: look for getting up between 04:00 and 14:00
BED_SEARCH = (18 * 60, 28 * 60)  # and for going to bed between 18:00 and 04:00 the next day
DEFAULT_WAKE, DEFAULT_BED = 9 * 60.0, 23 * 60.0
DEFAULT_VISITS, DEFAULT_VISITS_SD = 1.0, 1.0
DEFAULT_GAP_IN, DEFAULT_GAP_OUT = 4 * 60.0, 8 * 60.0  # minutes of quiet, at home / after the door
# Rooms where a long stay with nothing moving is a worry (a fall), each with its own motion
# signal, and the stay assumed usual until one is learned. Not the bedroom: rest is usual there.
STAY_ROOMS: tuple[tuple[str, int], ...] = (("bathroom", MOTION_BATHROOM), ("kitchen", MOTION_KITCHEN))
DEFAULT_STAY = np.array([30.0, 60.0])
DEFAULT_ACTIVE_HOURS = (8, 22)  # local hours assumed active before anything is learned
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


def day_marks(sus: np.ndarray, clk: Clock) -> tuple[np.ndarray, np.ndarray]:
    """Per home and local day: the bucket where getting up is seen, and the bucket going to bed ends.

    Getting up is seen at the end of the first sustained window after 04:00 (it began about
    WAKE_LEAD buckets earlier); -1 where there was none in the data.
    """
    homes, days = sus.shape[0], len(clk.dates)
    wake, bed = np.full((homes, days), -1, np.int64), np.full((homes, days), -1, np.int64)
    for d in range(days):
        lo, hi = clk.at(d, WAKE_SEARCH[0]), clk.at(d, WAKE_SEARCH[1])
        if hi > lo:
            seg = sus[:, lo:hi]
            wake[:, d] = np.where(seg.any(axis=1), lo + seg.argmax(axis=1), -1)
        lo, hi = clk.at(d, BED_SEARCH[0]), clk.at(d, BED_SEARCH[1])
        if hi > lo:
            seg = sus[:, lo:hi][:, ::-1]
            bed[:, d] = np.where(seg.any(axis=1), hi - seg.argmax(axis=1), -1)
    return wake, bed


def quiet_spells(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(last active bucket at or before each bucket, -1 if none; buckets since then)."""
    idx = np.arange(active.shape[1])
    last = np.maximum.accumulate(np.where(active, idx, -1), axis=1)
    return last, idx - last


def last_room(signals: Signals) -> np.ndarray:
    """(H, B) int8: the STAY_ROOMS index of the room that was the bucket's only activity (so they
    were last seen there), or -1."""
    c = signals.counts
    others = c[:, :, DOOR_OPEN].copy()  # the other activity signals, ORed plane by plane
    for s in range(DOOR_OPEN + 1, PENDANT + 1):
        others |= c[:, :, s]
    out = np.full(c.shape[:2], -1, np.int8)
    for r, (_name, plane) in enumerate(STAY_ROOMS):
        out[(c[:, :, plane] > 0) & (c[:, :, MOTION_ANY] == c[:, :, plane]) & (others == 0)] = r
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
    stay_max: np.ndarray  # (H, len(STAY_ROOMS)) longest quiet after movement in only that room, minutes
    door_night_share: np.ndarray  # (H,) share of nights the front door was opened

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
        }


def hhmm(minutes: float) -> str:
    m = round(minutes) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def duration_text(minutes: float) -> str:
    m = round(minutes)
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def learn(
    signals: Signals, tz: str = "Europe/London", min_days: int = 7, days: int = 28,
    hub_offline: np.ndarray | None = None,
) -> Baselines:
    """Baselines from the last ``days`` days of ``signals``, for every home."""
    lo = max(0, signals.n_buckets - int(timedelta(days=days) / signals.bucket))
    sig = Signals(signals.home_ids, signals.time_of(lo), signals.bucket, signals.counts[:, lo:], signals.names)
    off = None if hub_offline is None else hub_offline[:, lo:]
    clk = clock(sig, tz)
    parts = []
    for a in range(0, len(sig.home_ids), LEARN_CHUNK):
        part = Signals(sig.home_ids[a:a + LEARN_CHUNK], sig.start, sig.bucket, sig.counts[a:a + LEARN_CHUNK], sig.names)
        parts.append(_learn_chunk(part, clk, min_days, None if off is None else off[a:a + LEARN_CHUNK]))
    fields = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    return Baselines(home_ids=list(signals.home_ids), tz=tz, **fields)


def _learn_chunk(sig: Signals, clk: Clock, min_days: int, offline: np.ndarray | None) -> dict[str, np.ndarray]:
    homes, n = len(sig.home_ids), sig.n_buckets
    active = sig.activity()
    off = sig.offline() if offline is None else sig.offline() | offline
    seen = active | off | ~np.isnan(sig.temperature_c())
    # Data present on a local day: any activity, temperature or outage report.
    day_onehot = np.zeros((n, len(clk.dates)), np.float32)
    day_onehot[np.arange(n), clk.day] = 1
    days_of_history = ((seen.astype(np.float32) @ day_onehot) > 0).sum(axis=1)

    # Hour-of-week profile: mean motion per bucket, scaled to an hour, and the share of active hours.
    how = clk.weekday * 24 + clk.hour
    how_onehot = np.zeros((n, 168), np.float32)
    how_onehot[np.arange(n), how] = 1
    per_how = np.maximum(how_onehot.sum(axis=0), 1)
    hourly_factor = 60 / clk.bucket_min
    profile_motion = (sig.counts[:, :, MOTION_ANY].astype(np.float32) @ how_onehot) / per_how * hourly_factor
    hour_key = clk.day * 24 + clk.hour
    starts = np.flatnonzero(np.r_[True, hour_key[1:] != hour_key[:-1]])
    hour_active = np.logical_or.reduceat(active, starts, axis=1).astype(np.float32)
    hour_how_onehot = how_onehot[starts]
    profile_active = (hour_active @ hour_how_onehot) / np.maximum(hour_how_onehot.sum(axis=0), 1)
    hod_onehot = np.zeros((len(starts), 24), np.float32)
    hod_onehot[np.arange(len(starts)), clk.hour[starts]] = 1
    active_by_hour = (hour_active @ hod_onehot) / np.maximum(hod_onehot.sum(axis=0), 1)

    wake, bed = day_marks(sustained(active), clk)
    lead = WAKE_LEAD * clk.bucket_min
    wake_min = np.where(wake >= 0, clk.minute[np.maximum(wake, 0)] - lead, np.nan)
    bed_min = np.where(bed >= 0, clk.key[np.maximum(bed - 1, 0)] + clk.bucket_min
                       - np.arange(len(clk.dates)) * 1440.0, np.nan)
    visit_cum = bathroom_visit_starts(sig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first_bed, first_wake = np.nanmedian(bed_min, axis=1), np.nanpercentile(wake_min, 10, axis=1)
    # The night's bounds need the usual times, so count the visits once those are known.
    visits = night_visits(visit_cum, wake, bed, clk, np.nan_to_num(first_bed, nan=DEFAULT_BED),
                          np.nan_to_num(first_wake, nan=DEFAULT_WAKE - 60))

    # Quiet spells, treating an outage as activity: silence we could not hear is not silence.
    last, quiet = quiet_spells(active | off)
    quiet_min = quiet * clk.bucket_min
    lastc = np.maximum(last, 0)
    went_out = np.take_along_axis(sig.counts[:, :, DOOR_OPEN], lastc, axis=1) > 0
    room_then = np.take_along_axis(last_room(sig), lastc, axis=1)
    gap_in, gap_out = np.zeros((homes, 24)), np.zeros((homes, 24))
    for h in range(24):
        cols = clk.hour == h
        if cols.any():
            q = quiet_min[:, cols]
            gap_in[:, h] = np.where(went_out[:, cols], 0, q).max(axis=1)
            gap_out[:, h] = np.where(went_out[:, cols], q, 0).max(axis=1)
    stay = np.zeros((homes, len(STAY_ROOMS)))
    for r in range(len(STAY_ROOMS)):
        stay[:, r] = np.where((room_then == r) & (last >= 0), quiet_min, 0).max(axis=1) if n else 0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled by the defaults below
        wake_median, wake_p90 = np.nanmedian(wake_min, axis=1), np.nanpercentile(wake_min, 90, axis=1)
        wake_p10, bed_median = np.nanpercentile(wake_min, 10, axis=1), np.nanmedian(bed_min, axis=1)
        v_mean, v_sd = np.nanmean(visits, axis=1), np.nanstd(visits, axis=1)
    bed_usual = np.where(np.isnan(bed_median), DEFAULT_BED, bed_median)
    wake_early = np.where(np.isnan(wake_p10), DEFAULT_WAKE, wake_p10)
    door = sig.counts[:, :, DOOR_OPEN] > 0
    night_door = door & at_night(clk.minute[None, :], bed_usual[:, None], wake_early[:, None])
    nights_with_door = ((night_door.astype(np.float32) @ day_onehot) > 0).sum(axis=1)
    door_share = nights_with_door / np.maximum(days_of_history, 1)

    enough = (np.sum(~np.isnan(wake_min), axis=1) >= min_days // 2) & ~np.isnan(bed_median)
    learned = (days_of_history >= min_days) & enough

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
        "stay_max": pick(stay, DEFAULT_STAY),
        "door_night_share": pick(door_share, 0.0),
    }


def local_time_text(t: datetime, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%H:%M")
