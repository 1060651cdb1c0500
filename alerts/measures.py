"""What the sensors say about a day, measured the same way by learning and by the pattern rules:
each bucket's local clock, sustained activity, signs of being up, getting up and going to bed,
quiet spells, the room last moved in, and night-time bathroom visits.

Everything is numpy over (homes, buckets); Python loops only run over local days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from .signals import (
    ACTIVITY_SIGNALS, BED_IN, BED_OUT, DOOR_OPEN, FLUSH, KETTLE, MOTION_ANY, MOTION_BATHROOM, MOTION_BEDROOM, MOTION_KITCHEN,
    PENDANT, SEAT, Signals,
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
# Rooms where a long stay with nothing moving is a worry (a fall), each with its own motion
# signal. Not the bedroom: rest is usual there.
STAY_ROOMS: tuple[tuple[str, int], ...] = (("bathroom", MOTION_BATHROOM), ("kitchen", MOTION_KITCHEN))
BED_STAY_BUCKETS = 24  # in bed this long (2 h of 5-minute buckets) is going to bed, not a lie-down


@dataclass(frozen=True)
class Clock:
    """Local wall-clock facts for each bucket of a Signals array, in one time zone."""

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


Zones = str | Sequence[str]  # one time zone for every home, or each home's own (in the homes' order)


def zone_of_each(zones: Zones, homes: int) -> list[str]:
    if isinstance(zones, str):
        return [zones] * homes
    if len(zones) != homes:
        raise ValueError(f"{len(zones)} time zones for {homes} homes")
    return list(zones)


def zone_groups(zones: Sequence[str]) -> list[tuple[str, np.ndarray | slice]]:
    """Each time zone with the rows of its homes: local time is worked out once per zone, not per
    home. When every home shares one zone, its rows are one slice (a view, not a copy)."""
    if len(set(zones)) == 1:
        return [(zones[0], slice(0, len(zones)))]
    order: dict[str, list[int]] = {}
    for i, z in enumerate(zones):
        order.setdefault(z, []).append(i)
    return [(z, np.array(rows)) for z, rows in order.items()]


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


def in_bed(sig: Signals) -> np.ndarray:
    """(H, B) bool: the bed sensor's last change at or before each bucket was getting in."""
    c, idx = sig.counts, np.arange(sig.n_buckets, dtype=np.int32)
    last_in = np.maximum.accumulate(np.where(c[:, :, BED_IN] > 0, idx, -1), axis=1)
    return last_in > np.maximum.accumulate(np.where(c[:, :, BED_OUT] > 0, idx, -1), axis=1)


def beyond_bedroom(sig: Signals) -> np.ndarray:
    """(H, B) bool: a sign of someone out of the bedroom: motion in another room, the front door,
    an appliance or cupboard, the chair or the pendant (the bed sensor and bedroom motion are not)."""
    c = sig.counts
    return ((c[:, :, MOTION_ANY] > c[:, :, MOTION_BEDROOM]) | (c[:, :, DOOR_OPEN] > 0) | (c[:, :, KETTLE] > 0)
            | (c[:, :, SEAT] > 0) | (c[:, :, PENDANT] > 0))


def bed_stays(sig: Signals) -> np.ndarray:
    """(H, B) bool: the bed sensor says someone got into bed here and stayed BED_STAY_BUCKETS."""
    into = sig.counts[:, :, BED_IN] > 0
    if not into.any():
        return into
    idx = np.arange(into.shape[1])
    cum = np.zeros((into.shape[0], into.shape[1] + 1), np.int32)
    np.cumsum(in_bed(sig), axis=1, out=cum[:, 1:])
    ahead = np.minimum(idx + BED_STAY_BUCKETS, into.shape[1])
    return into & (cum[:, ahead] - cum[:, idx] == ahead - idx)


def day_marks(up: np.ndarray, clk: Clock, sus: np.ndarray | None = None,
              to_bed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per home and local day: the bucket where getting up is seen, and the bucket going to bed ends.

    Getting up is the first sign of being up after 04:00 (for sustained activity, it began about
    WAKE_LEAD buckets earlier); -1 where there was none in the data. Going to bed is the first
    stay in bed the bed sensor saw in the evening (``to_bed``), else the end of the last
    sustained activity (``sus``, default ``up``), else the last other sign of being up (the
    kitchen, the front door, an appliance, the chair): a home with only contact sensors is rarely
    "sustained", and a night trip to the toilet is none of these.
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
            if sus is not up:
                seg = up[:, lo:hi][:, ::-1]
                bed[:, d] = np.where((bed[:, d] < 0) & seg.any(axis=1), hi - seg.argmax(axis=1), bed[:, d])
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
    others = (counts[..., DOOR_OPEN] > 0) | (counts[..., FLUSH] > 0)  # the other signals, ORed plane by plane
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
