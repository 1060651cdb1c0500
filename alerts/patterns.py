"""Activity-pattern rules on learned baselines, for every home at once.

``evaluate`` (live) and ``backtest`` run the same rule code (``_fire``): it works out, for a set
of evaluation buckets, which rules hold in which homes, using only data up to each bucket. Each
rule is one function over a shared ``Context``; ``rules.py`` lists them with their priority and
wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .baseline import (
    DOOR_HOUR_USUAL, WEEKDAYS, WEEKENDS, Baselines, duration_text, hhmm, local_time_text, usual_hours_text, weekend,
)
from .measures import (
    STAY_ROOMS, WAKE_SEARCH, Clock, at_night, bathroom_visit_starts, bed_stays, beyond_bedroom, clock, day_marks,
    in_bed, last_room,
    night_visits, quiet_spells, sustained, up_signs, zone_groups,
)
from .signals import ACTIVITY_SIGNALS, BED_IN, DOOR_OPEN, MOTION_BEDROOM, SEAT, Signals

NO_ACTIVITY_MIN, NO_ACTIVITY_MARGIN = 120.0, 30.0  # minutes; after the door: a wider margin
NO_ACTIVITY_SHARE = 0.25  # the margin is at least this share of the usual: long spells vary more
REST_MIN = 240.0  # sat down in a chair or gone to bed: a few quiet hours are never a worry
OUT_MARGIN = 60.0
ACTIVE_HOUR_SHARE = 0.5  # an hour of the day counts as usually active when active this often
NOT_UP_MARGIN = 60.0
NOT_UP_SPREAD = 1.0  # and at least this many times the gap between the usual and the latest wake time
NOT_UP_MAX_MARGIN = 80.0  # but never more: not getting up is found within 90 min of the usual latest
NOT_UP_IN_BED_MARGIN = 45.0  # still in bed, or only in the bedroom: the sensors say it directly
NOT_UP_LATEST = 14 * 60.0  # not up by 14:00 is a worry, however late the usual
NOT_UP_STILL_MIN = 15.0
STAY_MIN = np.array([30.0, 60.0])  # minutes, per STAY_ROOMS: never alert on a shorter stay
STAY_MARGIN = 20.0
VISIT_NIGHTS, VISIT_SDS, VISIT_FACTOR, VISIT_FLOOR = 3, 1.5, 1.75, 3.0
COLD_C, COLD_FOR_MIN = 16.0, 60.0
TEMP_STALE_MIN = 120.0  # a temperature older than this no longer says anything
COLD_LOOKBACK = timedelta(days=1)
AWAY_AFTER_DOOR_MIN = 30.0  # quiet this long after the door: probably out
LOOKBACK = timedelta(days=4)  # enough for three whole nights before the current bucket
EPISODE_GAP = timedelta(hours=1)  # a rule quiet this long ends an episode (backtest dedup)
# Alerts about the person's day: a day with one is not learned from.
PERSON_RULES = ("no_activity", "not_up", "long_stay", "door_at_night", "night_bathroom_increase")


def due_from(up_by: np.ndarray | float, usual_wake: np.ndarray | float) -> np.ndarray:
    """Local minutes when not being up yet becomes a worry, from the usual latest and usual wake times."""
    margin = np.clip(NOT_UP_SPREAD * (np.asarray(up_by) - np.asarray(usual_wake)), NOT_UP_MARGIN, NOT_UP_MAX_MARGIN)
    return np.minimum(np.asarray(up_by) + margin, NOT_UP_LATEST)


@dataclass(frozen=True)
class PatternAlert:
    home_id: str
    rule: str
    at: datetime  # UTC: the end of the bucket in which the rule first held
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def evaluate(
    signals: Signals, baselines: Baselines, now: datetime,
    hub_offline: np.ndarray | None = None, window: timedelta | None = None,
) -> list[PatternAlert]:
    """Rules that hold at ``now`` (over the buckets ending in the last ``window``, default one bucket),
    each home judged in its own time zone (the baselines carry it).

    Uses the buckets that ended by ``now``; ``hub_offline`` is (homes, buckets) like ``signals``.
    """
    end_b = min(signals.n_buckets, signals.index_of(now))
    lo = max(0, end_b - int(LOOKBACK / signals.bucket))
    recent = signals.counts[:, lo:end_b]
    if recent.strides[2] < recent.strides[1]:
        # Laid out home by home: make each signal's plane contiguous first (see signals.empty).
        recent = np.ascontiguousarray(recent.transpose(2, 0, 1)).transpose(1, 2, 0)
    sig = Signals(signals.home_ids, signals.time_of(lo), signals.bucket, recent, signals.names)
    off = None if hub_offline is None else hub_offline[:, lo:end_b]
    steps = max(1, int((window or signals.bucket) / signals.bucket))
    cols = np.arange(max(0, sig.n_buckets - steps), sig.n_buckets)
    if not len(cols):
        return []
    return dedup(_fire(sig, baselines, cols, off), signals.bucket)


def backtest(
    signals: Signals, baselines: Baselines, start: datetime, end: datetime,
    step: timedelta = timedelta(minutes=5), hub_offline: np.ndarray | None = None,
) -> list[PatternAlert]:
    """Evaluate at every ``step`` in [start, end); one alert per home and rule per episode."""
    return dedup(hits(signals, baselines, start, end, step, hub_offline), step)


def hits(
    signals: Signals, baselines: Baselines, start: datetime, end: datetime,
    step: timedelta = timedelta(minutes=5), hub_offline: np.ndarray | None = None,
) -> list[PatternAlert]:
    """Every (home, rule) that holds at each ``step`` in [start, end), before episodes are made."""
    every = max(1, int(step / signals.bucket))
    first, last = max(0, signals.index_of(start) - 1), min(signals.n_buckets, signals.index_of(end))
    cols = np.arange(first, last, every)
    return _fire(signals, baselines, cols, hub_offline)


def dedup(fired: list[PatternAlert], step: timedelta, gap: timedelta = EPISODE_GAP) -> list[PatternAlert]:
    """One alert per episode: a hit starts one when its rule had not held for ``gap``."""
    out: list[PatternAlert] = []
    last_seen: dict[tuple[str, str], datetime] = {}
    for a in sorted(fired, key=lambda a: (a.home_id, a.rule, a.at)):
        key = (a.home_id, a.rule)
        prev = last_seen.get(key)
        if prev is None or a.at - prev > gap + step:
            out.append(a)
        last_seen[key] = a.at
    return sorted(out, key=lambda a: (a.at, a.home_id, a.rule))


@dataclass(frozen=True)
class Context:
    """What every pattern rule looks at, for each home (rows) and evaluation bucket (columns)."""

    sig: Signals
    base: Baselines
    clk: Clock
    cols: np.ndarray  # (C,) the buckets evaluated
    off: np.ndarray  # (H, B) hub offline
    last_at: np.ndarray  # (H, C) the bucket last heard in, -1 if none yet
    quiet_min: np.ndarray  # (H, C) minutes since
    then: np.ndarray  # (H, C, signals) that bucket's counts
    resting: np.ndarray  # (H, C) it was sitting down or getting into bed
    went_out: np.ndarray  # (H, C) it was the front door
    wake_seen: np.ndarray  # (H, D) the bucket getting up was seen in, per local day
    bed_seen: np.ndarray  # (H, D)

    @property
    def heard(self) -> np.ndarray:
        return self.last_at >= 0

    @property
    def seen_today(self) -> np.ndarray:
        return self.wake_seen[:, self.clk.day[self.cols]]


Finding = tuple[np.ndarray, np.ndarray | None]  # where a rule holds (H, C), and what its reason needs


def _context(sig: Signals, base: Baselines, tz: str, cols: np.ndarray, hub_offline: np.ndarray | None) -> Context:
    clk = clock(sig, tz)
    active = sig.activity()
    off = sig.offline() if hub_offline is None else sig.offline() | hub_offline
    # An outage counts as activity: what we could not hear is not silence.
    last, quiet = quiet_spells(active | off)
    last_at = last[:, cols]
    rows = np.arange(len(sig.home_ids))[:, None]
    then = sig.counts[rows, np.maximum(last_at, 0)]
    # Came in and sat down (or went to bed) in the same few minutes: resting at home, not out.
    resting = (then[:, :, SEAT] > 0) | (then[:, :, BED_IN] > 0)
    sus = sustained(active)
    wake_seen, bed_seen = day_marks(up_signs(sig, sus), clk, sus, bed_stays(sig))
    return Context(sig, base, clk, cols, off, last_at, (quiet[:, cols] * clk.bucket_min).astype(np.float64),
                   then, resting, (then[:, :, DOOR_OPEN] > 0) & ~resting, wake_seen, bed_seen)


def coming_home(sig: Signals, home: int, at: int, bucket_min: float) -> bool:
    """Whether the front door at bucket ``at`` is the person coming home. Walking back from it:
    while the activity before is the front door, after a quiet spell long enough to have been
    out, it is one more door in a run of leaving and returning; an odd count means the last of
    them was leaving, so this one is the return. Anything else before (movement at home) ends
    the run. Only asked of the few doors a rule would otherwise alert on."""
    active = sig.counts[home, :at, :][:, list(ACTIVITY_SIGNALS)].any(axis=1)
    door = sig.counts[home, :at, DOOR_OPEN] > 0
    doors, i = 0, at
    while True:
        found = np.flatnonzero(active[:i])
        if not len(found):
            break
        prev = int(found[-1])
        if not door[prev] or (i - prev) * bucket_min < AWAY_AFTER_DOOR_MIN:
            break
        doors, i = doors + 1, prev
    return doors % 2 == 1


def no_activity(x: Context) -> Finding:
    """Quieter than usual for a spell that began at this hour (plus a margin), in a usually active
    hour, once they had been up today (before that, not_up speaks for it). A spell keeps the limit
    of the hour it began in, so one spell is one alert. Outings are few in a month, so the longest
    one is the yardstick for being out."""
    base, hour, minute = x.base, x.clk.hour[x.cols], x.clk.minute[x.cols]
    longest_out = base.gap_out.max(axis=1)[:, None]
    began = x.clk.hour[np.maximum(x.last_at, 0)]
    usual = np.where(x.resting, base.gap_rest[:, None], np.take_along_axis(base.gap_in, began, axis=1))
    at_home = np.maximum(usual + np.maximum(NO_ACTIVITY_MARGIN, NO_ACTIVITY_SHARE * usual),
                         np.where(x.resting, REST_MIN, 0))
    limit = np.maximum(np.where(x.went_out, longest_out + OUT_MARGIN, at_home), NO_ACTIVITY_MIN)
    usual_active = base.active_by_hour[:, hour] >= ACTIVE_HOUR_SHARE
    seen = x.seen_today
    was_up = ((seen >= 0) & (x.last_at >= seen)) | (minute >= WAKE_SEARCH[1])
    return (x.quiet_min > limit) & usual_active & x.heard & was_up, limit


def not_up(x: Context) -> Finding:
    """No sign of being up (sustained activity, the front door, the kitchen, the chair) by the usual
    latest wake-up for this day of the week plus a margin that grows with how much the wake time
    varies, and not moving about just now. Still in bed, or moving only in the bedroom since the
    morning, it is due sooner: that is not a late riser getting up. However late the usual, it is due by NOT_UP_LATEST."""
    base, cols, minute, day = x.base, x.cols, x.clk.minute[x.cols], x.clk.day[x.cols]
    kind = weekend(x.clk.weekday[cols])  # (C,)
    up_by, usual = base.wake_p90_by_kind[:, kind], base.wake_median_by_kind[:, kind]  # (H, C)
    morning = np.searchsorted(x.clk.key, day * 1440.0 + WAKE_SEARCH[0])
    m0 = int(min(morning.min(), cols.min()))  # what happened before this morning does not matter

    today = x.sig.window(x.sig.time_of(m0), x.sig.end)  # a view: only this morning on is looked at

    def since_morning(flags: np.ndarray) -> np.ndarray:
        """(H, C) how many buckets from this morning up to each evaluated one had ``flags`` (from m0)."""
        cum = np.zeros((flags.shape[0], flags.shape[1] + 1), np.int32)
        np.cumsum(flags, axis=1, out=cum[:, 1:])
        return cum[:, cols + 1 - m0] - cum[:, morning - m0]

    outage = since_morning(x.off[:, m0:]) > 0
    # In bed now (a night trip to the bathroom and back is no sign of being up), or moving only in
    # the bedroom since the morning.
    bed_now = in_bed(x.sig)[:, cols]
    bedroom_only = since_morning(today.counts[:, :, MOTION_BEDROOM] > 0) > 0
    bedroom_only &= since_morning(beyond_bedroom(today)) == 0
    still_in_bed = bed_now | bedroom_only
    due = np.where(still_in_bed, np.minimum(up_by + NOT_UP_IN_BED_MARGIN, NOT_UP_LATEST), due_from(up_by, usual))
    seen = x.seen_today
    not_yet = (seen < 0) | (seen > cols[None, :])
    # Moving about just now may be getting up; moving in bed is not.
    still = (x.quiet_min >= NOT_UP_STILL_MIN) | still_in_bed
    # A home never heard (not installed yet, or not reporting) says nothing about anyone getting up.
    holds = (minute >= due) & (minute < WAKE_SEARCH[1]) & not_yet & still & ~outage & (morning > 0) & x.heard
    # What the reason says: 1 in bed, 2 only in the bedroom, 0 neither.
    return holds, np.stack([due, up_by, np.where(bed_now, 1, np.where(bedroom_only, 2, 0))], axis=2)


def door_at_night(x: Context) -> Finding:
    """The front door opened in the usual night, at an hour of the night (or next to one) it is not
    usually used in, unless it is them coming home (see ``coming_home``): a late return is not a
    worry, going out in the night is."""
    base, hour, minute = x.base, x.clk.hour[x.cols], x.clk.minute[x.cols]
    night = at_night(minute[None, :], base.bed_median[:, None], base.wake_p10[:, None])
    near = np.maximum(np.maximum(base.door_by_hour[:, hour], base.door_by_hour[:, (hour + 1) % 24]),
                      base.door_by_hour[:, (hour - 1) % 24])
    holds = (x.sig.counts[:, x.cols, DOOR_OPEN] > 0) & night & (near < DOOR_HOUR_USUAL)
    for h, c in np.argwhere(holds):
        holds[h, c] = not coming_home(x.sig, int(h), int(x.cols[c]), x.clk.bucket_min)
    return holds, None


def night_bathroom_increase(x: Context) -> Finding:
    """The last VISIT_NIGHTS whole nights all well above the usual rate."""
    base, minute, day = x.base, x.clk.minute[x.cols], x.clk.day[x.cols]
    visits = night_visits(bathroom_visit_starts(x.sig), x.wake_seen, x.bed_seen, x.clk, base.bed_median, base.wake_p10)
    # A night is over by noon the next day (the bucket ending at noon counts).
    last_night = day - np.where(minute >= 720 - x.clk.bucket_min, 1, 2)
    nights = last_night[:, None] - np.arange(VISIT_NIGHTS)[None, :]  # (C, N)
    counted = np.where(nights >= 0, visits[:, np.maximum(nights, 0)], np.nan)  # (H, C, N)
    mean, sd = base.night_visits_mean[:, None, None], base.night_visits_sd[:, None, None]
    # Every night well up on the usual, and the nights together far outside the usual spread.
    each_high = np.all(counted >= np.maximum(VISIT_FACTOR * mean, VISIT_FLOOR), axis=2)
    return each_high & (counted.mean(axis=2) >= (mean + VISIT_SDS * sd)[:, :, 0]), counted


def long_stay(x: Context) -> Finding:
    """Last seen in one room (bathroom, kitchen), nothing since, for longer than usual there."""
    room_then = last_room(x.then)  # (H, C) STAY_ROOMS index or -1
    stay_limits = np.maximum(x.base.stay_max + STAY_MARGIN, STAY_MIN)  # (H, R)
    limit_now = np.take_along_axis(stay_limits, np.maximum(room_then, 0), axis=1)
    return (room_then >= 0) & (x.quiet_min > limit_now) & x.heard, room_then


def cold_home(x: Context) -> Finding:
    """The latest temperature below COLD_C for COLD_FOR_MIN, with someone at home. Looked at over
    the last COLD_LOOKBACK only: a cold spell longer than that is reported as that long."""
    sig, cols, bm = x.sig, x.cols, x.clk.bucket_min
    t0 = max(0, int(cols[0]) - int(COLD_LOOKBACK / sig.bucket))
    temp = Signals(sig.home_ids, sig.time_of(t0), sig.bucket, sig.counts[:, t0:]).temperature_c()
    idx = np.arange(temp.shape[1])
    t_last = np.maximum.accumulate(np.where(np.isnan(temp), -1, idx), axis=1)
    current = np.where(t_last >= 0, np.take_along_axis(temp, np.maximum(t_last, 0), axis=1), np.nan)
    current[(idx - t_last) * bm > TEMP_STALE_MIN] = np.nan
    cold_since = np.maximum.accumulate(np.where(current < COLD_C, -1, idx), axis=1)
    cold_min = ((idx - cold_since) * bm)[:, cols - t0]
    away = x.went_out & (x.quiet_min > AWAY_AFTER_DOOR_MIN)
    return (cold_min >= COLD_FOR_MIN) & ~away, np.stack([current[:, cols - t0], cold_min], axis=2)


def _fire(sig: Signals, base: Baselines, cols: np.ndarray, hub_offline: np.ndarray | None) -> list[PatternAlert]:
    """Every (home, rule) that holds at each bucket in ``cols``, as alerts, the homes of each time
    zone together (local time is worked out once per zone)."""
    if base.home_ids != sig.home_ids:
        raise ValueError("baselines and signals must list the same homes in the same order")
    alerts = []
    for zone, rows in zone_groups(base.zones):
        alerts += _fire_zone(sig.rows(rows), base.rows(rows), zone, cols,
                             None if hub_offline is None else hub_offline[rows])
    return alerts


def _fire_zone(sig: Signals, base: Baselines, tz: str, cols: np.ndarray, hub_offline: np.ndarray | None
               ) -> list[PatternAlert]:
    from .rules import PATTERN_RULES  # the table names these functions: imported here, not at the top

    x = _context(sig, base, tz, cols, hub_offline)
    silent = x.off[:, cols]
    alerts = []
    for rule in PATTERN_RULES:
        mask, extra = rule.mask(x)
        if rule.needs_hub:
            # Silence an outage explains is not a concern; neither is anything while the hub is offline.
            mask &= ~silent
        for h, c in zip(*np.nonzero(mask)):
            alerts.append(_alert(rule.key, int(h), int(c), sig, base, tz, cols, x.quiet_min, extra))
    return alerts


def _alert(rule: str, h: int, c: int, sig: Signals, base: Baselines, tz: str, cols: np.ndarray,
           quiet_min: np.ndarray, extra: np.ndarray | None) -> PatternAlert:
    at = sig.time_of(int(cols[c]) + 1)
    now = local_time_text(at, tz)
    quiet = float(quiet_min[h, c])
    since = local_time_text(at - timedelta(minutes=quiet), tz)
    detail: dict[str, Any] = {"baseline_learned": bool(base.learned[h])}
    if rule == "no_activity":
        limit = float(extra[h, c])
        reason = (f"no activity since {since} ({duration_text(quiet)}); a quiet spell beginning at that "
                  f"time of day does not usually last more than {duration_text(limit)}")
        detail |= {"quiet_minutes": quiet, "limit_minutes": limit}
    elif rule == "not_up":
        due, up_by, where = (float(v) for v in extra[h, c])
        apart = base.wake_p90_by_kind[h, WEEKDAYS] != base.wake_p90_by_kind[h, WEEKENDS]
        days = "" if not apart else " at weekends" if weekend(at.astimezone(ZoneInfo(tz)).weekday()) else " on weekdays"
        seen = {1: "still in bed", 2: "moving only in the bedroom"}.get(int(where), "no sign of being up")
        reason = f"usually up by {hhmm(up_by)}{days}; {seen} by {hhmm(due)} (now {now})"
        detail |= {"usual_up_by": hhmm(up_by), "due": hhmm(due), "in_bed": int(where) == 1}
    elif rule == "door_at_night":
        hours = usual_hours_text(base.door_by_hour[h])
        usual = "never used at night" if hours == "none" else f"usually used at night only around {hours}"
        reason = (f"front door opened at {now} during the usual night "
                  f"({hhmm(base.bed_median[h] + 30)}-{hhmm(base.wake_p10[h] - 15)}); {usual}")
        detail |= {"usual_night_door_share": float(base.door_night_share[h]), "usual_night_door_hours": hours}
    elif rule == "night_bathroom_increase":
        counts = [int(v) for v in extra[h, c][::-1]]
        mean, sd = float(base.night_visits_mean[h]), float(base.night_visits_sd[h])
        each, average = max(VISIT_FACTOR * mean, VISIT_FLOOR), mean + VISIT_SDS * sd
        reason = (f"night bathroom visits {', '.join(map(str, counts))} over the last {VISIT_NIGHTS} nights; "
                  f"usually {mean:.1f} ± {sd:.1f} a night (alert at {each:.1f}+ every night "
                  f"and {average:.1f}+ on average)")
        detail |= {"visits": counts, "usual_mean": mean, "usual_sd": sd, "each_night": each, "average": average}
    elif rule == "long_stay":
        r = int(extra[h, c])
        room, usual = STAY_ROOMS[r][0], float(base.stay_max[h, r])
        limit = max(usual + STAY_MARGIN, float(STAY_MIN[r]))
        reason = (f"last movement in the {room} at {since}, nothing since ({duration_text(quiet)}); "
                  f"usually at most {duration_text(usual)} there")
        detail |= {"room": room, "quiet_minutes": quiet, "limit_minutes": limit}
    else:
        temp, minutes = (float(x) for x in extra[h, c])
        reason = (f"indoor temperature {temp:.1f} °C, below {COLD_C:.0f} °C for {duration_text(minutes)} "
                  f"while someone is at home")
        detail |= {"temperature_c": temp, "cold_minutes": minutes, "threshold_c": COLD_C}
    return PatternAlert(sig.home_ids[h], rule, at, reason, detail)
