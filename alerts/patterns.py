"""Activity-pattern rules on learned baselines, for every home at once.

``evaluate`` (live) and ``backtest`` run the same rule code (``_fire``): it works out, for a set
of evaluation buckets, which rules hold in which homes, using only data up to each bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from .baseline import (
    WAKE_SEARCH,
    Baselines,
    at_night,
    bathroom_visit_starts,
    clock,
    day_marks,
    duration_text,
    hhmm,
    local_time_text,
    night_visits,
    STAY_ROOMS,
    last_room,
    quiet_spells,
    sustained,
)
from .signals import DOOR_OPEN, Signals

RULES = ("no_activity", "not_up", "door_at_night", "night_bathroom_increase", "long_stay", "cold_home")
NO_ACTIVITY_MIN, NO_ACTIVITY_MARGIN = 120.0, 30.0  # minutes; after the door: a wider margin
OUT_MARGIN = 60.0
ACTIVE_HOUR_SHARE = 0.5  # an hour of the day counts as usually active when active this often
NOT_UP_MARGIN = 60.0
NOT_UP_STILL_MIN = 15.0
DOOR_NIGHT_USUAL = 0.1  # the door at night is unusual when seen on fewer nights than this
STAY_MIN = np.array([30.0, 60.0])  # minutes, per STAY_ROOMS: never alert on a shorter stay
STAY_MARGIN = 20.0
VISIT_NIGHTS, VISIT_SDS, VISIT_FACTOR, VISIT_FLOOR = 3, 1.5, 1.75, 3.0
COLD_C, COLD_FOR_MIN = 16.0, 60.0
TEMP_STALE_MIN = 120.0  # a temperature older than this no longer says anything
AWAY_AFTER_DOOR_MIN = 30.0  # quiet this long after the door: probably out
LOOKBACK = timedelta(days=4)  # enough for three whole nights before the current bucket
EPISODE_GAP = timedelta(hours=1)  # a rule quiet this long ends an episode (backtest dedup)
ACTIVITY_RULES = ("no_activity", "not_up", "long_stay")


@dataclass(frozen=True)
class PatternAlert:
    home_id: str
    rule: str
    at: datetime  # UTC: the end of the bucket in which the rule first held
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def evaluate(
    signals: Signals, baselines: Baselines, now: datetime, tz: str | None = None,
    hub_offline: np.ndarray | None = None, window: timedelta | None = None,
) -> list[PatternAlert]:
    """Rules that hold at ``now`` (over the buckets ending in the last ``window``, default one bucket).

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
    return _dedup(_fire(sig, baselines, tz or baselines.tz, cols, off), signals.bucket)


def backtest(
    signals: Signals, baselines: Baselines, start: datetime, end: datetime,
    step: timedelta = timedelta(minutes=5), tz: str | None = None, hub_offline: np.ndarray | None = None,
) -> list[PatternAlert]:
    """Evaluate at every ``step`` in [start, end); one alert per home and rule per episode."""
    every = max(1, int(step / signals.bucket))
    first, last = max(0, signals.index_of(start) - 1), min(signals.n_buckets, signals.index_of(end))
    cols = np.arange(first, last, every)
    return _dedup(_fire(signals, baselines, tz or baselines.tz, cols, hub_offline), step)


def _dedup(fired: list[PatternAlert], step: timedelta) -> list[PatternAlert]:
    out: list[PatternAlert] = []
    last_seen: dict[tuple[str, str], datetime] = {}
    for a in sorted(fired, key=lambda a: (a.home_id, a.rule, a.at)):
        key = (a.home_id, a.rule)
        prev = last_seen.get(key)
        if prev is None or a.at - prev > EPISODE_GAP + step:
            out.append(a)
        last_seen[key] = a.at
    return sorted(out, key=lambda a: (a.at, a.home_id, a.rule))


def _fire(sig: Signals, base: Baselines, tz: str, cols: np.ndarray, hub_offline: np.ndarray | None
          ) -> list[PatternAlert]:
    """Every (home, rule) that holds at each bucket in ``cols``, as alerts."""
    if base.home_ids != sig.home_ids:
        raise ValueError("baselines and signals must list the same homes in the same order")
    clk = clock(sig, tz)
    bm = clk.bucket_min
    active = sig.activity()
    off = sig.offline() if hub_offline is None else sig.offline() | hub_offline
    off_cum = np.zeros((off.shape[0], off.shape[1] + 1), np.int32)
    np.cumsum(off, axis=1, out=off_cum[:, 1:])
    # An outage counts as activity: what we could not hear is not silence.
    last, quiet = quiet_spells(active | off)
    lastc = np.maximum(last, 0)
    quiet_min = (quiet[:, cols] * bm).astype(np.float64)
    last_at = lastc[:, cols]
    went_out = sig.counts[:, :, DOOR_OPEN][np.arange(len(sig.home_ids))[:, None], last_at] > 0
    room_then = np.take_along_axis(last_room(sig), last_at, axis=1)  # (H, C) STAY_ROOMS index or -1
    hour, minute, day = clk.hour[cols], clk.minute[cols], clk.day[cols]
    away = went_out & (quiet_min > AWAY_AFTER_DOOR_MIN)
    masks: dict[str, np.ndarray] = {}
    extra: dict[str, np.ndarray] = {}

    wake_seen, bed_seen = day_marks(sustained(active), clk)
    seen_today = wake_seen[:, day]

    # no_activity: quieter than ever seen at this hour (plus a margin), in a usually active hour,
    # once they had been up today (before that, or until the afternoon, not_up speaks for it).
    # Outings are few in a month, so the longest one at any hour is the yardstick for being out.
    longest_out = base.gap_out.max(axis=1)[:, None]
    limit = np.where(went_out, longest_out + OUT_MARGIN, base.gap_in[:, hour] + NO_ACTIVITY_MARGIN)
    limit = np.maximum(limit, NO_ACTIVITY_MIN)
    usual_active = base.active_by_hour[:, hour] >= ACTIVE_HOUR_SHARE
    was_up = ((seen_today >= 0) & (last_at >= seen_today)) | (minute >= WAKE_SEARCH[1])
    masks["no_activity"] = (quiet_min > limit) & usual_active & (last_at >= 0) & was_up
    extra["no_activity"] = limit

    # not_up: not seen up and about by the usual latest wake-up plus a margin, and not moving
    # about just now (someone who has just got up is not seen as up for a while).
    due = base.wake_p90[:, None] + NOT_UP_MARGIN
    morning = np.searchsorted(clk.key, day * 1440.0 + WAKE_SEARCH[0])
    outage = off_cum[:, cols + 1] - off_cum[:, morning] > 0
    not_yet = (seen_today < 0) | (seen_today > cols[None, :])
    still = quiet_min >= NOT_UP_STILL_MIN
    masks["not_up"] = (minute >= due) & (minute < WAKE_SEARCH[1]) & not_yet & still & ~outage & (morning > 0)

    # door_at_night: the front door opened in the usual night, when it is not usually used then.
    night = at_night(minute[None, :], base.bed_median[:, None], base.wake_p10[:, None])
    unusual = (base.door_night_share < DOOR_NIGHT_USUAL)[:, None]
    masks["door_at_night"] = (sig.counts[:, cols, DOOR_OPEN] > 0) & night & unusual

    # night_bathroom_increase: the last VISIT_NIGHTS whole nights all well above the usual rate.
    visits = night_visits(bathroom_visit_starts(sig), wake_seen, bed_seen, clk, base.bed_median, base.wake_p10)
    last_night = day - np.where(minute >= 720, 1, 2)  # a night is over by noon the next day
    nights = last_night[:, None] - np.arange(VISIT_NIGHTS)[None, :]  # (C, N)
    counted = np.where(nights >= 0, visits[:, np.maximum(nights, 0)], np.nan)  # (H, C, N)
    mean, sd = base.night_visits_mean[:, None, None], base.night_visits_sd[:, None, None]
    # Every night well up on the usual, and the nights together far outside the usual spread.
    each_high = np.all(counted >= np.maximum(VISIT_FACTOR * mean, VISIT_FLOOR), axis=2)
    masks["night_bathroom_increase"] = each_high & (counted.mean(axis=2) >= (mean + VISIT_SDS * sd)[:, :, 0])
    extra["night_bathroom_increase"] = counted

    # long_stay: last seen in one room (bathroom, kitchen), nothing since, for longer than ever seen.
    stay_limits = np.maximum(base.stay_max + STAY_MARGIN, STAY_MIN)  # (H, R)
    limit_now = np.take_along_axis(stay_limits, np.maximum(room_then, 0), axis=1)
    masks["long_stay"] = (room_then >= 0) & (quiet_min > limit_now) & (last_at >= 0)
    extra["long_stay"] = room_then

    # cold_home: the latest temperature below COLD_C for COLD_FOR_MIN, with someone at home.
    temp = sig.temperature_c()
    idx = np.arange(sig.n_buckets)
    t_last = np.maximum.accumulate(np.where(np.isnan(temp), -1, idx), axis=1)
    current = np.where(t_last >= 0, np.take_along_axis(temp, np.maximum(t_last, 0), axis=1), np.nan)
    current[(idx - t_last) * bm > TEMP_STALE_MIN] = np.nan
    cold = current < COLD_C
    cold_since = np.maximum.accumulate(np.where(cold, -1, idx), axis=1)
    cold_min = ((idx - cold_since) * bm)[:, cols]
    masks["cold_home"] = (cold_min >= COLD_FOR_MIN) & ~away
    extra["cold_home"] = np.stack([current[:, cols], cold_min], axis=2)

    # Silence an outage explains is not a concern; neither is anything while the hub is offline.
    silent = off[:, cols]
    for rule in ACTIVITY_RULES:
        masks[rule] &= ~silent
    masks["door_at_night"] &= ~silent

    alerts = []
    for rule in RULES:
        for h, c in zip(*np.nonzero(masks[rule])):
            alerts.append(_alert(rule, int(h), int(c), sig, base, tz, cols, quiet_min, extra))
    return alerts


def _alert(rule: str, h: int, c: int, sig: Signals, base: Baselines, tz: str, cols: np.ndarray,
           quiet_min: np.ndarray, extra: dict[str, np.ndarray]) -> PatternAlert:
    at = sig.time_of(int(cols[c]) + 1)
    now = local_time_text(at, tz)
    quiet = float(quiet_min[h, c])
    since = local_time_text(at - timedelta(minutes=quiet), tz)
    detail: dict[str, Any] = {"baseline_learned": bool(base.learned[h])}
    if rule == "no_activity":
        limit = float(extra[rule][h, c])
        reason = (f"no activity since {since} ({duration_text(quiet)}); at this time of day the home "
                  f"is not usually quiet for more than {duration_text(limit)}")
        detail |= {"quiet_minutes": quiet, "limit_minutes": limit}
    elif rule == "not_up":
        due = base.wake_p90[h] + NOT_UP_MARGIN
        reason = f"usually up by {hhmm(base.wake_p90[h])}; no activity by {hhmm(due)} (now {now})"
        detail |= {"usual_up_by": hhmm(base.wake_p90[h]), "due": hhmm(due)}
    elif rule == "door_at_night":
        reason = (f"front door opened at {now} during the usual night "
                  f"({hhmm(base.bed_median[h] + 30)}-{hhmm(base.wake_p10[h] - 15)}); "
                  f"usually used on {base.door_night_share[h]:.0%} of nights")
        detail |= {"usual_night_door_share": float(base.door_night_share[h])}
    elif rule == "night_bathroom_increase":
        counts = [int(v) for v in extra[rule][h, c][::-1]]
        mean, sd = float(base.night_visits_mean[h]), float(base.night_visits_sd[h])
        each, average = max(VISIT_FACTOR * mean, VISIT_FLOOR), mean + VISIT_SDS * sd
        reason = (f"night bathroom visits {', '.join(map(str, counts))} over the last {VISIT_NIGHTS} nights; "
                  f"usually {mean:.1f} ± {sd:.1f} a night (alert at {each:.1f}+ every night "
                  f"and {average:.1f}+ on average)")
        detail |= {"visits": counts, "usual_mean": mean, "usual_sd": sd, "each_night": each, "average": average}
    elif rule == "long_stay":
        r = int(extra[rule][h, c])
        room, usual = STAY_ROOMS[r][0], float(base.stay_max[h, r])
        limit = max(usual + STAY_MARGIN, float(STAY_MIN[r]))
        reason = (f"last movement in the {room} at {since}, nothing since ({duration_text(quiet)}); "
                  f"usually at most {duration_text(usual)} there")
        detail |= {"room": room, "quiet_minutes": quiet, "limit_minutes": limit}
    else:
        temp, minutes = (float(x) for x in extra[rule][h, c])
        reason = (f"indoor temperature {temp:.1f} °C, below {COLD_C:.0f} °C for {duration_text(minutes)} "
                  f"while someone is at home")
        detail |= {"temperature_c": temp, "cold_minutes": minutes, "threshold_c": COLD_C}
    return PatternAlert(sig.home_ids[h], rule, at, reason, detail)
