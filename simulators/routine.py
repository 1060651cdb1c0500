"""A resident's days and nights, turned into the reports their home's devices would send.

Every calendar day is generated on its own: each day's habits and each night's bathroom
visits come from RNGs seeded by (seed, home, date), and a day is built from the plans of its
neighbours too, so a night that spans midnight agrees on both sides. Days 1..N generated one
by one, in any order or in parallel, equal one continuous run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tecwatch.devices import DEVICE_TYPES
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID, Value

from .home import (
    BATHROOM, BED, BEDROOM, HALL, KITCHEN, OUT, Heating, Planner, SimHome, Stay, at_local, battery_profiles,
    checkin_values, clipped_gauss, heating_for, local_minutes, normal_temperature, poisson, slots, state_history,
    temperature_reports,
)
from .scenarios import (
    Active, GroundTruth, Scenario, check_scenarios, cold_over, cold_override, fall_blackout, ms, resolve, truth,
)
from .scenarios import ScenarioKind as K

MIN, DAY = timedelta(minutes=1), timedelta(days=1)
CLEAR = timedelta(seconds=90)  # a PIR reports "no occupancy" this long after its last trigger
CARER_RESUME = timedelta(minutes=10)  # after a fall, the resident moves again this long after help arrives

_Raw = tuple[datetime, str, dict]  # (time, device id, values) before battery levels and the window


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    ts: datetime  # UTC, whole milliseconds
    home_id: str
    device_id: str
    values: dict[str, Value]


@dataclass(frozen=True)
class DayBatch:
    day: int
    date: date
    events: list[DeviceEvent]  # all homes, sorted by time
    truths: list[GroundTruth]  # for the scenarios injected on this day


@dataclass(frozen=True, slots=True)
class _Anchors:
    getup: datetime
    quiet: datetime  # no night-time bathroom visits after this
    bedtime: datetime  # this evening's
    meals: tuple[datetime, datetime, datetime]
    outing: tuple[datetime, float] | None  # start, minutes


@dataclass(frozen=True)
class _Ctx:
    home: SimHome
    seed: int
    sim_start: date
    heartbeat_s: int
    active: tuple[Active, ...]
    heating: Heating
    battery: dict[str, tuple[float, float]]  # battery devices: level at the start, % lost a month

    def rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, self.home.index, *parts)))

    def of(self, kind: K) -> list[Active]:
        return [a for a in self.active if a.kind is kind]


def _context(home: SimHome, seed: int, sim_start: date, heartbeat_s: int, scenarios: Sequence[Scenario]) -> _Ctx:
    active = tuple(resolve(s, home, sim_start, seed) for s in scenarios if s.home_id == home.home_id)
    return _Ctx(home, seed, sim_start, heartbeat_s, active, heating_for(home, seed), battery_profiles(home, seed))


def _night_of(tz: str, t: datetime) -> date:
    """The date of the evening on which the night containing ``t`` began."""
    d, m = local_minutes(tz, t)
    return d if m >= 720 else d - DAY


def _anchors(ctx: _Ctx, d: date) -> _Anchors:
    p, tz = ctx.home.persona, ctx.home.tz
    rng = ctx.rng("anchors", d.toordinal())
    wake, bed = clipped_gauss(rng, p.wake_mean, p.wake_sd), clipped_gauss(rng, p.bed_mean, p.bed_sd)
    breakfast = wake + max(10.0, rng.gauss(p.breakfast_after, p.meal_sd / 2))
    lunch, dinner = rng.gauss(p.lunch_mean, p.meal_sd), rng.gauss(p.dinner_mean, p.meal_sd)
    goes_out = rng.random() < p.outing_prob
    out_at = rng.uniform(p.outing_earliest, p.outing_latest)
    out_len = min(300.0, max(30.0, rng.gauss(p.outing_mean, p.outing_sd)))
    getup = natural = at_local(tz, d, wake)
    quiet = natural - 20 * MIN
    bedtime = at_local(tz, d, bed)
    for a in ctx.of(K.NOT_GETTING_UP):
        if local_minutes(tz, a.start)[0] == d:
            getup, quiet = a.end, min(natural, a.start) - 20 * MIN
    for a in ctx.of(K.NIGHT_WANDERING):
        if _night_of(tz, a.start) == d - DAY:
            getup = max(getup, a.end + 20 * MIN)
        elif _night_of(tz, a.start) == d:
            bedtime = min(bedtime, a.start - 30 * MIN)
    bedtime = max(bedtime, getup + timedelta(hours=2))
    meals = (at_local(tz, d, breakfast), at_local(tz, d, lunch), at_local(tz, d, dinner))
    return _Anchors(getup, quiet, bedtime, meals, (at_local(tz, d, out_at), out_len) if goes_out else None)


MEALS = (("breakfast", 15, 30, 1.0), ("lunch", 20, 40, 0.6), ("dinner", 30, 50, 0.3))  # minutes, kettle chance


def _day_plan(ctx: _Ctx, d: date) -> Planner:
    """From getting up to getting into bed on date ``d``."""
    p, a = ctx.home.persona, _anchors(ctx, d)
    rng = ctx.rng("day", d.toordinal())
    pl = Planner(rng, p.active_gap, a.getup, a.bedtime, BEDROOM)
    wind_down = a.bedtime - rng.uniform(12, 20) * MIN
    kettle_q = min(1.0, max(0.1, (p.kettle_per_day - 1.8) / 4.5))
    pl.go(BEDROOM, rng.uniform(2, 5))
    pl.go(BATHROOM, rng.uniform(8, 18))
    pl.go(BEDROOM, rng.uniform(4, 10))
    plans: list[tuple[datetime, int]] = [(t, i) for i, t in enumerate(a.meals)]
    if a.outing is not None:
        plans.append((a.outing[0], -1))
    for when, i in sorted(plans):
        length = (a.outing[1] + 5 if i < 0 and a.outing else 50) * MIN
        if when < pl.t - 45 * MIN or max(when, pl.t) + length > wind_down - 15 * MIN:
            continue  # missed (a late start) or no time left before bed
        pl.fill(when, kettle_q, p.lounge_gap)
        if i < 0 and a.outing:
            pl.go(HALL, rng.uniform(1, 3))
            pl.out(a.outing[1])
            pl.go(HALL, rng.uniform(0.5, 2))
        else:
            _, lo, hi, chance = MEALS[i]
            pl.go(KITCHEN, rng.uniform(lo, hi), kettle=rng.random() < chance)
    pl.fill(wind_down, kettle_q, p.lounge_gap)
    pl.go(BATHROOM, rng.uniform(5, 9))
    pl.go(BEDROOM, 24 * 60)  # until bedtime, the planner's limit
    return pl


def _night_visit_times(ctx: _Ctx, d: date, rng: random.Random) -> list[datetime]:
    p, a, b = ctx.home.persona, _anchors(ctx, d), _anchors(ctx, d + DAY)
    n = poisson(rng, p.night_visits_mean)
    if any(d in s.nights for s in ctx.of(K.NIGHT_BATHROOM)):
        n = max(4, round(p.night_visits_mean * rng.uniform(3, 4)))
    lo, hi = a.bedtime + 30 * MIN, b.quiet
    n = min(n, max(0, (hi - lo) // (11 * MIN)))  # a visit takes up to ~10 minutes
    slot = (hi - lo) / max(n, 1)
    # One visit in each slot of the night: spread out, never overlapping.
    times = [lo + slot * i + rng.uniform(0, max(0.0, slot / MIN - 11)) * MIN for i in range(n)]
    for w in ctx.of(K.NIGHT_WANDERING):
        times = [t for t in times if not w.start - 15 * MIN < t < w.end + 15 * MIN]
    return times


def _night_plan(ctx: _Ctx, d: date) -> Planner:
    """From getting into bed on the evening of ``d`` to getting up the next day."""
    a, b = _anchors(ctx, d), _anchors(ctx, d + DAY)
    rng = ctx.rng("night", d.toordinal())
    trips: list[tuple[datetime, Active | None]] = [(t, None) for t in _night_visit_times(ctx, d, rng)]
    trips += [(w.start, w) for w in ctx.of(K.NIGHT_WANDERING) if _night_of(ctx.home.tz, w.start) == d]
    pl = Planner(rng, ctx.home.persona.active_gap, a.bedtime, b.getup, None)
    for t, wander in sorted(trips, key=lambda x: x[0]):
        pl.bed(t)
        if wander is None:
            pl.go(BEDROOM, rng.uniform(0.3, 1.0))
            pl.go(BATHROOM, rng.uniform(3, 7))
            pl.go(BEDROOM, rng.uniform(0.3, 1.0))
        else:
            pl.go(BEDROOM, rng.uniform(0.5, 1.5))
            pl.go(HALL, rng.uniform(1, 3))
            pl.out(wander.out_minutes)
            pl.go(HALL, rng.uniform(1, 3))
            pl.go(BEDROOM, rng.uniform(1, 2))
    pl.bed(b.getup)
    return pl


def _plans(ctx: _Ctx, lo: datetime, hi: datetime) -> tuple[list[Stay], list[tuple[datetime, datetime]]]:
    """Every stay and kettle boil that can touch [lo, hi), with falls cut out."""
    tz = ctx.home.tz
    d, last = local_minutes(tz, lo)[0] - DAY, local_minutes(tz, hi - MIN)[0]
    stays: list[Stay] = []
    boils: list[tuple[datetime, datetime]] = []
    while d <= last:
        for pl in (_day_plan(ctx, d), _night_plan(ctx, d)):
            stays += pl.stays
            boils += pl.boils
        d += DAY
    for f in ctx.of(K.FALL):
        stays, boils = fall_blackout(stays, boils, f.start, f.end + CARER_RESUME)
    return stays, boils


def _activity(ctx: _Ctx, stays: list[Stay], boils: list[tuple[datetime, datetime]]) -> list[_Raw]:
    """What the motion, bed, door, flush and kettle sensors see of the resident."""
    home = ctx.home
    bed_id, door_id = home.of_type("bed")[0].device_id, home.of_type("door")[0].device_id
    flush = next((d.device_id for d in home.of_type("flush")), None)
    out: list[_Raw] = []
    triggers: dict[str, list[tuple[datetime, bool]]] = {}
    for s in stays:
        if s.place == BED:
            out += [(s.start, bed_id, {"occupancy": True}), (s.end, bed_id, {"occupancy": False})]
        elif s.place == OUT:
            for opened, closed in zip((s.start, s.end), s.marks):
                out += [(opened, door_id, {"contact": False}), (closed, door_id, {"contact": True})]
        else:
            dev = home.motion_in(s.place)
            triggers.setdefault(dev, []).extend((m, i == len(s.marks) - 1) for i, m in enumerate(s.marks))
            if s.place == BATHROOM and flush is not None:  # flushed on the way out
                out.append((max(s.start, s.end - timedelta(seconds=30)), flush, {"flush": True}))
    for f in ctx.of(K.FALL):  # help arrives
        t = f.end
        out += [(t, door_id, {"contact": False}), (t + timedelta(seconds=15), door_id, {"contact": True})]
        triggers.setdefault(home.motion_in(HALL), []).extend(
            [(t + timedelta(seconds=20), False), (t + timedelta(seconds=60), True)])
        if f.device_id is not None:
            out.append((f.start, f.device_id, {"action": "fall"}))
    for dev, items in triggers.items():
        items.sort()
        for j, (m, last) in enumerate(items):
            out.append((m, dev, {"occupancy": True}))
            # Clear after the last trigger of a stay, unless the sensor fires again first.
            if last and not (j + 1 < len(items) and items[j + 1][0] <= m + CLEAR):
                out.append((m + CLEAR, dev, {"occupancy": False}))
    for on, off in boils:
        out += [(on, "plug-kettle", {"power": ctx.heating.kettle_w}), (off, "plug-kettle", {"power": 0.0})]
    return out


def _temperatures(ctx: _Ctx, dev: str, lo: datetime, hi: datetime) -> list[tuple[datetime, float, float]]:
    device = ctx.home.device(dev)
    assert device is not None
    cold = cold_override(ctx.of(K.COLD_HOME), lambda t: normal_temperature(ctx.home, ctx.heating, ctx.seed, t))
    return temperature_reports(ctx.home, ctx.heating, ctx.seed, device, lo, hi, cold)


def _leaking(ctx: _Ctx, dev: str, t: datetime) -> bool:
    return any(f.device_id == dev and f.start <= t < f.end for f in ctx.of(K.FLOOD))


def _periodic(ctx: _Ctx, lo: datetime, hi: datetime, activity: list[_Raw], boils: list[tuple[datetime, datetime]]
              ) -> list[_Raw]:
    """Heartbeats, readings and check-ins on the devices' own schedules, and scenario alarms."""
    phase = ctx.rng("phase", GATEWAY_DEVICE_ID).random()
    out = [(t, GATEWAY_DEVICE_ID, {"status": "online"}) for _, t in slots(lo, hi, ctx.heartbeat_s, phase)]
    history = state_history(activity)
    for d in ctx.home.devices:
        dt = DEVICE_TYPES[d.device_type]
        if d.device_type == "temperature":
            out += [(t, d.device_id, {"temperature": v, "humidity": h})
                    for t, v, h in _temperatures(ctx, d.device_id, lo, hi)]
        elif d.device_type == "plug":
            for _, t in slots(lo, hi, 3600, ctx.rng("phase", d.device_id).random()):
                if not any(on <= t <= off for on, off in boils):
                    out.append((t, d.device_id, {"power": 0.0}))
        elif dt.battery_powered:
            # Check in well inside the interval the platform expects to hear from the device.
            period = dt.expected_interval_s / 3
            for k, nominal in slots(lo, hi, period, ctx.rng("phase", d.device_id).random(), margin_s=period / 10):
                t = nominal + timedelta(seconds=ctx.rng(d.device_id, k).uniform(-period / 10, period / 10))
                values = checkin_values(history, d, t, _leaking(ctx, d.device_id, t))
                # An occupied sensor or an open door is reporting anyway; skip rather than repeat.
                busy = values.get("occupancy") is True and d.device_type == "motion" or values.get("contact") is False
                if lo <= t < hi and not busy:
                    out.append((t, d.device_id, values))
    out += [(a.start, "pendant-1", {"action": "press"}) for a in ctx.of(K.PENDANT_PRESS)]
    for a in ctx.of(K.FLOOD):
        out += [(a.start, a.device_id, {"water_leak": True}), (a.end, a.device_id, {"water_leak": False})]
    for a in ctx.of(K.LOW_BATTERY):
        device = ctx.home.device(a.device_id or "")
        assert device is not None
        for t in [a.start] + ([a.end] if a.end > a.start else []):  # going low; replaced
            out.append((t, device.device_id, checkin_values(history, device, t, _leaking(ctx, device.device_id, t))))
    return out


def _battery(ctx: _Ctx, dev: str, t: datetime) -> float:
    start, per_month = ctx.battery[dev]
    months = (t - at_local(ctx.home.tz, ctx.sim_start, 0)) / DAY / 30.44
    level = start - per_month * months
    for a in ctx.of(K.LOW_BATTERY):
        if a.device_id == dev and t >= a.start:
            # With a duration the battery is replaced at the end of it.
            level = 100 - per_month * (t - a.end) / DAY / 30.44 if a.end > a.start and t >= a.end else a.level
    return float(max(0, min(100, round(level))))


def _events(ctx: _Ctx, lo: datetime, hi: datetime) -> list[DeviceEvent]:
    stays, boils = _plans(ctx, lo, hi)
    activity = _activity(ctx, stays, boils)
    raw = activity + _periodic(ctx, lo, hi, activity, boils)
    for a in ctx.of(K.HUB_OFFLINE):  # the hub is silent: nothing from the home gets through
        raw = [e for e in raw if not a.start <= e[0] < a.end]
        raw += [(a.start, GATEWAY_DEVICE_ID, {"status": "offline"}), (a.end, GATEWAY_DEVICE_ID, {"status": "online"})]
    events = []
    for t, dev, values in raw:
        ts = ms(t)
        if not lo <= ts < hi:
            continue
        if dev in ctx.battery:
            level = _battery(ctx, dev, ts)
            values = {**values, "battery": level, "battery_low": level < 15}
        events.append(DeviceEvent(ts, ctx.home.home_id, dev, values))
    events.sort(key=_order)
    return events


def _order(e: DeviceEvent) -> tuple:
    return (e.ts, e.home_id, e.device_id, str(e.values))


def _where(ctx: _Ctx, t: datetime) -> str:
    """The room someone falling at ``t`` is found in (coming home, they fall in the hall)."""
    place = next((s.place for s in _plans(ctx, t, t + MIN)[0] if s.start < t <= s.end), HALL)
    return {BED: BEDROOM, OUT: HALL}.get(place, place)


def _truth(ctx: _Ctx, a: Active) -> GroundTruth:
    """Ground truth, placed as precisely as the generated data allows."""
    if a.kind is K.FALL:
        return truth(a, ctx.home, room=_where(ctx, a.start))
    if a.kind is K.NIGHT_WANDERING:
        stays = _night_plan(ctx, _night_of(ctx.home.tz, a.start)).stays
        trip = next(s for s in stays if s.place == OUT and s.start >= a.start)
        back = next((s.start for s in stays if s.place == BED and s.start > trip.end), trip.end)
        # From the front door opening to it closing again on the way back in.
        return truth(a, ctx.home, (trip.start, trip.marks[1]), left_bed=ms(a.start).isoformat(),
                     back_in_bed=ms(back).isoformat(), minutes_out=round((trip.end - trip.start) / MIN, 1))
    if a.kind is K.NIGHT_BATHROOM:
        counts = [len(_night_visit_times(ctx, d, ctx.rng("night", d.toordinal()))) for d in a.nights]
        window = (_anchors(ctx, a.nights[0]).bedtime, _anchors(ctx, a.nights[-1] + DAY).getup)
        return truth(a, ctx.home, window, visits_per_night=counts)
    if a.kind is K.COLD_HOME:
        end = cold_over(a, lambda t: normal_temperature(ctx.home, ctx.heating, ctx.seed, t))
        temps = [v for _, v, _ in _temperatures(ctx, "temp-lounge", a.start, end)]
        return truth(a, ctx.home, (a.start, end), min_temperature=min(temps, default=None))
    return truth(a, ctx.home)


def simulate_day(
    home: SimHome, day_number: int, date: date, seed: int, scenarios: Sequence[Scenario] = (), heartbeat_s: int = 300
) -> tuple[list[DeviceEvent], list[GroundTruth]]:
    """One home's events over the local calendar day ``date`` (day ``day_number`` of the run).

    Returns the events sorted by time and the ground truth of the scenarios injected on this day.
    """
    if day_number < 1:
        raise ValueError(f"day_number starts at 1, not {day_number}")
    ctx = _context(home, seed, date - (day_number - 1) * DAY, heartbeat_s, scenarios)
    events = _events(ctx, at_local(home.tz, date, 0), at_local(home.tz, date + DAY, 0))
    return events, [_truth(ctx, a) for a in ctx.active if a.scenario.day == day_number]


def simulate_range(
    home: SimHome, start: date, first_day: int, last_day: int, seed: int,
    scenarios: Sequence[Scenario] = (), heartbeat_s: int = 300,
) -> list[DeviceEvent]:
    """Days ``first_day..last_day`` of a run beginning on ``start``, as one continuous stretch."""
    ctx = _context(home, seed, start, heartbeat_s, scenarios)
    lo = at_local(home.tz, start + (first_day - 1) * DAY, 0)
    return _events(ctx, lo, at_local(home.tz, start + last_day * DAY, 0))


def ground_truth(
    homes: Sequence[SimHome], start: date, days: int, seed: int, scenarios: Sequence[Scenario] = ()
) -> list[GroundTruth]:
    """The ground truth of every scenario, without generating the events."""
    check_scenarios(scenarios, homes, days)
    by_home = {h.home_id: _context(h, seed, start, 300, scenarios) for h in homes}
    return [_truth(by_home[s.home_id], resolve(s, by_home[s.home_id].home, start, seed)) for s in scenarios]


def simulate(
    homes: Sequence[SimHome], start: date, days: int, seed: int,
    scenarios: Sequence[Scenario] = (), heartbeat_s: int = 300,
) -> Iterator[DayBatch]:
    """Day by day, every home's events for that day (sorted) and the ground truth injected on it."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, not {days}")
    if heartbeat_s < 1:
        raise ValueError(f"heartbeat_s must be 1 or more, not {heartbeat_s}")
    check_scenarios(scenarios, homes, days)
    return _batches(homes, start, days, seed, scenarios, heartbeat_s)


def _batches(homes: Sequence[SimHome], start: date, days: int, seed: int, scenarios: Sequence[Scenario],
             heartbeat_s: int) -> Iterator[DayBatch]:
    for n in range(1, days + 1):
        day = start + (n - 1) * DAY
        events: list[DeviceEvent] = []
        truths: list[GroundTruth] = []
        for home in homes:
            e, g = simulate_day(home, n, day, seed, scenarios, heartbeat_s)
            events += e
            truths += g
        events.sort(key=_order)
        yield DayBatch(n, day, events, truths)
