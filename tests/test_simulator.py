"""The home simulator's generation core: determinism, realism and scenario injection (pure, no I/O)."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from tecwatch.devices import DEVICE_TYPES, Limits, Reading, parse_message, platform_message
from tecwatch.devices.payloads import ID_PATTERN, PAYLOAD_MODELS
from tecwatch.simulators.home import ARCHETYPES, SimHome, make_home
from tecwatch.simulators.routine import DeviceEvent, ground_truth, simulate, simulate_day, simulate_range
from tecwatch.simulators.scenarios import (
    GroundTruth,
    Scenario,
    ScenarioKind,
    check_scenarios,
    parse_scenario,
)

SEED = 11
START = date(2025, 1, 6)
MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
K = ScenarioKind


def homes_of_each_archetype(seed: int = SEED) -> list[SimHome]:
    found: dict[str, SimHome] = {}
    i = 1
    while len(found) < len(ARCHETYPES):
        home = make_home(seed, i)
        found.setdefault(home.persona.label, home)
        i += 1
    return [found[a.label] for a in ARCHETYPES]


def run(homes: Sequence[SimHome], days: int, scenarios: Sequence[Scenario] = (), start: date = START,
        seed: int = SEED) -> tuple[dict[str, list[DeviceEvent]], list[GroundTruth]]:
    by_home: dict[str, list[DeviceEvent]] = defaultdict(list)
    truths: list[GroundTruth] = []
    for batch in simulate(homes, start, days, seed, scenarios):
        for e in batch.events:
            by_home[e.home_id].append(e)
        truths += batch.truths
    return by_home, truths


def local(home: SimHome, t: datetime) -> datetime:
    return t.astimezone(ZoneInfo(home.tz))


def of(events: Sequence[DeviceEvent], home: SimHome, device_type: str) -> list[DeviceEvent]:
    return [e for e in events if home.type_of(e.device_id) == device_type]


def at_night(home: SimHome, t: datetime) -> bool:
    lt = local(home, t).time()
    return lt >= time(23, 30) or lt < time(5, 30)


# --- reading the data back the way an analyst would ---------------------------------------

def bed_exits(events: Sequence[DeviceEvent], home: SimHome) -> tuple[list[datetime], list[datetime]]:
    """(getting up, night visits): a bed exit is a visit when back in bed within 30 minutes."""
    bed = [(e.ts, e.values["occupancy"]) for e in of(events, home, "bed")]
    changes = [(t, v) for i, (t, v) in enumerate(bed) if i > 0 and bed[i - 1][1] != v]
    ups, visits = [], []
    for i, (t, occupied) in enumerate(changes):
        if occupied:
            continue
        back = next((u for u, v in changes[i + 1:] if v), None)
        (visits if back is not None and back - t <= 30 * MIN else ups).append(t)
    return ups, visits


def wake_minutes(events: Sequence[DeviceEvent], home: SimHome) -> list[float]:
    first: dict[date, float] = {}
    for t in bed_exits(events, home)[0]:
        lt = local(home, t)
        if lt.time() >= time(4):
            first.setdefault(lt.date(), lt.hour * 60 + lt.minute + lt.second / 60)
    return list(first.values())


def visits_per_night(events: Sequence[DeviceEvent], home: SimHome) -> dict[date, int]:
    counts: dict[date, int] = defaultdict(int)
    for t in bed_exits(events, home)[1]:
        counts[(local(home, t) - 12 * HOUR).date()] += 1
    return counts


def outings(events: Sequence[DeviceEvent], home: SimHome) -> list[tuple[datetime, datetime]]:
    """(left, came back) from the front door: openings alternate leaving and returning."""
    opens = [e.ts for e in of(events, home, "door") if e.values["contact"] is False]
    assert len(opens) % 2 == 0
    return list(zip(opens[0::2], opens[1::2]))


def door_changes(events: Sequence[DeviceEvent], home: SimHome) -> list[tuple[datetime, bool]]:
    """The front door opening and closing (check-ins that repeat its state left out)."""
    out: list[tuple[datetime, bool]] = []
    for e in of(events, home, "door"):
        if e.values["contact"] != (out[-1][1] if out else True):
            out.append((e.ts, e.values["contact"]))
    return out


def activity(events: Sequence[DeviceEvent], home: SimHome) -> list[datetime]:
    """Signs of someone moving: motion, the door or bed changing state, the kettle, a button."""
    last: dict[str, object] = {home.of_type("door")[0].device_id: True, home.of_type("bed")[0].device_id: False}
    out = []
    for e in events:
        kind = home.type_of(e.device_id)
        if kind == "motion" and e.values["occupancy"] is True or kind == "plug" and e.values["power"] >= 20:
            out.append(e.ts)
        elif kind in ("door", "bed"):
            value = e.values["contact" if kind == "door" else "occupancy"]
            if last[e.device_id] != value:
                out.append(e.ts)
            last[e.device_id] = value
        elif kind == "pendant" and "action" in e.values:  # not a battery check-in
            out.append(e.ts)
    return out


def bed_occupied(events: Sequence[DeviceEvent], home: SimHome, t: datetime) -> bool:
    state = False
    for e in of(events, home, "bed"):
        if e.ts > t:
            break
        state = e.values["occupancy"]
    return state


def signatures(events: Sequence[DeviceEvent], home: SimHome, heartbeat_s: int = 300) -> dict[K, list[datetime]]:
    """Where each scenario's signature shows in the data (empty when it does not)."""
    p = home.persona
    sig: dict[K, list[datetime]] = {k: [] for k in K}
    acts = activity(events, home)
    for a, b in pairwise(acts):
        if b - a >= 6 * HOUR and not bed_occupied(events, home, a):
            sig[K.FALL].append(a)
    for e in events:
        if e.values.get("action") == "fall":
            sig[K.FALL].append(e.ts)
    days = sorted({local(home, e.ts).date() for e in events})
    for d in days[1:]:
        t = datetime.combine(d, time(), ZoneInfo(home.tz)) + timedelta(minutes=p.wake_mean + 120)
        if t < events[-1].ts and bed_occupied(events, home, t.astimezone(UTC)):
            sig[K.NOT_GETTING_UP].append(t.astimezone(UTC))
    sig[K.NIGHT_WANDERING] = [t for t, _ in door_changes(events, home) if at_night(home, t)]
    counts = visits_per_night(events, home)
    many = {n for n, c in counts.items() if c >= max(4, 2.5 * p.night_visits_mean)}
    for n in sorted(many):
        if {n + DAY, n + 2 * DAY} <= many or {n - DAY, n + DAY} <= many or {n - 2 * DAY, n - DAY} <= many:
            sig[K.NIGHT_BATHROOM] += [t for t in bed_exits(events, home)[1] if (local(home, t) - 12 * HOUR).date() == n]
    sig[K.COLD_HOME] = [e.ts for e in of(events, home, "temperature") if e.values["temperature"] < 16]
    sig[K.PENDANT_PRESS] = [e.ts for e in of(events, home, "pendant") if e.values.get("action") == "press"]
    sig[K.HUB_OFFLINE] = [e.ts for e in events if e.values.get("status") == "offline"]
    sig[K.HUB_OFFLINE] += [a.ts for a, b in pairwise(events) if b.ts - a.ts > timedelta(seconds=2 * heartbeat_s)]
    sig[K.LOW_BATTERY] = [e.ts for e in events if e.values.get("battery_low") is True]
    sig[K.FLOOD] = [e.ts for e in of(events, home, "leak") if e.values["water_leak"] is True]
    return sig


# --- homes ---------------------------------------------------------------------------------

def test_homes_are_deterministic_and_well_formed():
    assert make_home(SEED, 3) == make_home(SEED, 3)
    assert make_home(SEED, 3) != make_home(SEED + 1, 3)
    homes = [make_home(SEED, i) for i in range(1, 31)]
    assert [h.home_id for h in homes] == [f"home-{i}" for i in range(1, 31)]
    assert len({h.persona for h in homes}) == 30  # jittered per home
    assert {h.persona.label for h in homes} == {a.label for a in ARCHETYPES}
    with_detector = sum(bool(h.of_type("fall_detector")) for h in homes)
    assert 3 <= with_detector <= 21  # about 40 %
    for h in homes:
        ids = [d.device_id for d in h.devices]
        assert len(set(ids)) == len(ids)
        assert all(re.match(ID_PATTERN, i) for i in ids)
        assert all(d.device_type in DEVICE_TYPES for d in h.devices)
        assert not any(c in d.friendly_name for d in h.devices for c in "/#+")
        assert {"door-front", "plug-kettle", "pendant-1", "bed-1"} <= set(ids)
        assert {d.room for d in h.of_type("motion")} == {"hall", "kitchen", "lounge", "bathroom", "bedroom"}
        assert len(h.of_type("leak")) == len(h.of_type("smoke")) == 1


# --- determinism and day-by-day generation -------------------------------------------------

def test_same_seed_same_events_and_a_different_seed_differs():
    home = make_home(SEED, 2)
    a = simulate_day(home, 2, START + DAY, SEED)
    assert a == simulate_day(home, 2, START + DAY, SEED)
    assert a[0] != simulate_day(home, 2, START + DAY, SEED + 1)[0]
    assert a[0] != simulate_day(make_home(SEED, 3), 2, START + DAY, SEED)[0]


@pytest.mark.parametrize("start", [START, date(2025, 3, 28), date(2025, 10, 24)],
                         ids=["winter", "dst-spring", "dst-autumn"])
def test_days_one_by_one_equal_a_continuous_run(start):
    home = homes_of_each_archetype()[1]  # the night owl: bedtime after midnight
    assert home.persona.label == "night owl"
    scenarios = [parse_scenario(f"fall:{home.home_id}@d2T19:00+8h"),
                 parse_scenario(f"night_wandering:{home.home_id}@d4T03:10"),
                 parse_scenario(f"hub_offline:{home.home_id}@d3T23:30+1h")]
    day_by_day: list[DeviceEvent] = []
    for n in range(1, 6):
        day_by_day += simulate_day(home, n, start + (n - 1) * DAY, SEED, scenarios)[0]
    assert day_by_day == simulate_range(home, start, 1, 5, SEED, scenarios)
    # Midnight stitches: the bed alternates in and out across every day boundary.
    bed = [e.values["occupancy"] for e in of(day_by_day, home, "bed")]
    changes = [v for i, v in enumerate(bed) if i == 0 or bed[i - 1] != v]
    assert all(a != b for a, b in pairwise(changes))
    assert len(changes) >= 8
    # Each local day is [00:00, 24:00), 23 or 25 hours on the clock-change days.
    tz = ZoneInfo(home.tz)
    for n in range(1, 6):
        d = start + (n - 1) * DAY
        events = simulate_day(home, n, d, SEED, scenarios)[0]
        assert all(local(home, e.ts).date() == d for e in events)
        length = datetime.combine(d + DAY, time(), tz).astimezone(UTC) - datetime.combine(d, time(), tz).astimezone(UTC)
        beats = sum(e.device_id == "gateway" for e in events)
        assert beats <= length / timedelta(seconds=300) + 1


# --- a month of ordinary life --------------------------------------------------------------

@pytest.fixture(scope="module")
def month() -> tuple[list[SimHome], dict[str, list[DeviceEvent]]]:
    homes = homes_of_each_archetype()
    return homes, run(homes, 30)[0]


def test_timestamps_are_utc_whole_ms_and_sorted(month):
    homes, events = month
    for home in homes:
        evs = events[home.home_id]
        assert all(e.ts.utcoffset() == timedelta(0) and e.ts.microsecond % 1000 == 0 for e in evs)
        assert [e.ts for e in evs] == sorted(e.ts for e in evs)
        first, last = local(home, evs[0].ts), local(home, evs[-1].ts)
        assert first.date() == START and last.date() == START + 29 * DAY


def test_wake_times_follow_the_persona(month):
    homes, events = month
    for home in homes:
        wakes = wake_minutes(events[home.home_id], home)
        assert len(wakes) >= 29
        p = home.persona
        assert abs(statistics.mean(wakes) - p.wake_mean) < 20, home.persona
        assert 0.5 * p.wake_sd < statistics.stdev(wakes) < 1.6 * p.wake_sd, home.persona


def test_night_bathroom_visits_follow_the_persona(month):
    homes, events = month
    for home in homes:
        counts = visits_per_night(events[home.home_id], home)
        nights = [counts.get(START + i * DAY, 0) for i in range(29)]  # whole nights only
        mean = home.persona.night_visits_mean
        assert abs(statistics.mean(nights) - mean) < max(0.6, 4 * (mean / 29) ** 0.5), (nights, home.persona)
        # Each visit goes bedroom -> hall -> bathroom and back.
        for t in bed_exits(events[home.home_id], home)[1][:10]:
            moved = [e.device_id for e in events[home.home_id]
                     if t <= e.ts <= t + 15 * MIN and e.values.get("occupancy") is True and e.device_id != "bed-1"]
            rooms = [d for i, d in enumerate(moved) if i == 0 or moved[i - 1] != d]
            assert rooms[:5] == ["pir-bedroom", "pir-hall", "pir-bathroom", "pir-hall", "pir-bedroom"]


def test_outings_happen_about_as_often_as_the_persona_says_and_the_home_is_empty(month):
    homes, events = month
    for home in homes:
        evs = events[home.home_id]
        trips = outings(evs, home)
        days_out = {local(home, a).date() for a, _ in trips}
        assert len(days_out) == len(trips)  # at most one a day
        assert abs(len(trips) / 30 - home.persona.outing_prob) < 0.27, (len(trips), home.persona)
        for left, back in trips:
            assert timedelta(minutes=25) < back - left < timedelta(hours=5, minutes=15)
            inside = [e for e in evs if left + timedelta(seconds=1) <= e.ts < back
                      and (e.values.get("occupancy") is True or e.values.get("power", 0) >= 20)]
            assert inside == [], f"movement at home while out: {inside[:3]}"


def test_normal_data_has_no_front_door_at_night_and_a_warm_home(month):
    homes, events = month
    for home in homes:
        evs = events[home.home_id]
        assert not [e for e in of(evs, home, "door") if at_night(home, e.ts) and e.values["contact"] is False]
        temps = [e.values["temperature"] for e in of(evs, home, "temperature")]
        assert min(temps) >= 16.5
        daytime = [e.values["temperature"] for e in of(evs, home, "temperature")
                   if time(10) <= local(home, e.ts).time() < time(21) and e.device_id == "temp-lounge"]
        assert 19 <= statistics.mean(daytime) <= 21.5
        lounge = [e.ts for e in evs if e.device_id == "temp-lounge"]
        assert max(b - a for a, b in pairwise(lounge)) < timedelta(minutes=37)


def test_kettle_is_used_daily_and_the_plug_reports_idle_hourly(month):
    homes, events = month
    for home in homes:
        plug = of(events[home.home_id], home, "plug")
        boils = [e for e in plug if e.values["power"] >= 20]
        assert len({local(home, e.ts).date() for e in boils}) == 30
        assert 2 <= len(boils) / 30 <= 12
        for on in boils[:20]:
            off = next(e for e in plug if e.ts > on.ts)
            assert off.values["power"] == 0.0 and 2 * MIN <= off.ts - on.ts <= 4 * MIN
        assert max(b.ts - a.ts for a, b in pairwise(plug)) <= HOUR + timedelta(seconds=1)


def test_every_device_reports_within_its_expected_interval(month):
    homes, events = month
    for home in homes:
        evs = events[home.home_id]
        start, end = evs[0].ts, evs[-1].ts
        for device in home.devices:
            dt = DEVICE_TYPES[device.device_type]
            times = [start] + [e.ts for e in evs if e.device_id == device.device_id] + [end]
            gap = max(b - a for a, b in pairwise(times))
            assert gap < timedelta(seconds=dt.expected_interval_s), (device, gap)
            if dt.battery_powered:
                levels = [e.values["battery"] for e in evs if e.device_id == device.device_id]
                assert 50 <= min(levels) and max(levels) <= 100 and max(levels) - min(levels) <= 3
        beats = [e.ts for e in evs if e.device_id == "gateway"]
        assert {b - a for a, b in pairwise(beats)} == {timedelta(seconds=300)}


def test_values_validate_against_the_platform_payload_models(month):
    homes, events = month
    home = homes[0]
    kinds = (("pendant_press", 9), ("flood", 10), ("low_battery", 11), ("hub_offline", 12))
    scenario_events, _ = run([home], 3, [parse_scenario(f"{k}:{home.home_id}@d2T{h}:00") for k, h in kinds])
    fall_home = next(h for h in (make_home(SEED, i) for i in range(1, 20)) if h.of_type("fall_detector"))
    fall_events, _ = run([fall_home], 2, [parse_scenario(f"fall:{fall_home.home_id}@d1T09:00")])
    checks = [(home, e) for e in events[home.home_id][:6000] + scenario_events[home.home_id]]
    checks += [(fall_home, e) for e in fall_events[fall_home.home_id]]
    seen = set()
    for h, e in checks:
        dtype = h.type_of(e.device_id)
        seen.add(dtype)
        PAYLOAD_MODELS[dtype].model_validate({"type": dtype, "ts": e.ts, "seq": 1, **e.values})
        msg = platform_message(home_id=h.home_id, device_id=e.device_id, device_type=dtype, ts=e.ts, seq=1,
                               room=None, values=e.values)
        reading = parse_message(msg.topic, msg.payload, e.ts, Limits())
        assert isinstance(reading, Reading), (e, reading)
        assert reading.values == e.values and reading.ts == e.ts
    assert seen == set(DEVICE_TYPES) - {"chair"}


# --- scenarios -----------------------------------------------------------------------------

def check_only(kind: K, sig: dict[K, list[datetime]], truth: GroundTruth, slack: timedelta = timedelta(0)) -> None:
    """The scenario's signature is in the data, only inside its window, and no other is."""
    assert sig[kind], f"{kind} does not show in the data"
    assert all(truth.start - slack <= t <= truth.end + slack for t in sig[kind]), (sig[kind], truth)
    assert not {k: v for k, v in sig.items() if v and k is not kind}


@pytest.fixture(scope="module")
def baseline() -> tuple[list[SimHome], dict[str, list[DeviceEvent]]]:
    homes = homes_of_each_archetype()
    for detector in (True, False):
        if not any(bool(h.of_type("fall_detector")) == detector for h in homes):
            homes.append(next(h for h in map(partial(make_home, SEED), range(1, 99))
                              if bool(h.of_type("fall_detector")) == detector))
    return homes, run(homes, 7)[0]


def test_baseline_shows_no_scenario_signature(baseline, month):
    for homes, events in (baseline, month):
        for home in homes:
            sig = signatures(events[home.home_id], home)
            assert not {k: v for k, v in sig.items() if v}, home


def scenario_run(baseline, spec: str, home: SimHome | int, days: int = 6):
    homes, base = baseline
    home = homes[home] if isinstance(home, int) else home
    sc = parse_scenario(spec.format(home=home.home_id))
    events, truths = run([home], days, [sc])
    assert len(truths) == 1 and truths[0].kind is sc.kind and truths[0].home_id == home.home_id
    truth = truths[0]
    assert truth == GroundTruth.from_json(truth.to_json())
    evs, ref = events[home.home_id], base[home.home_id]
    # Untouched before it: the same data as the run without the scenario.
    cut = truth.start - 12 * HOUR
    assert [e for e in evs if e.ts < cut] == [e for e in ref if e.ts < cut]
    return home, evs, truth


@pytest.mark.parametrize("detector", [False, True], ids=["no-detector", "detector"])
def test_fall(baseline, detector):
    home = next(h for h in baseline[0] if bool(h.of_type("fall_detector")) == detector)
    home, evs, truth = scenario_run(baseline, "fall:{home}@d3T10:30", home)
    assert truth.expected_alert == ("fall_detected" if detector else "no_activity")
    assert truth.end - truth.start == 12 * HOUR
    assert not [t for t in activity(evs, home) if truth.start < t < truth.end]
    falls = [e for e in evs if e.values.get("action") == "fall"]
    assert [(e.ts, e.device_id) for e in falls] == ([(truth.start, truth.device_id)] if detector else [])
    # Help arrives: the door opens and people move again.
    assert any(e.ts == truth.end and e.values == {**e.values, "contact": False} for e in evs)
    assert [t for t in activity(evs, home) if truth.end < t < truth.end + HOUR]
    check_only(K.FALL, signatures(evs, home), truth, slack=30 * MIN)


def test_fall_without_the_detector_flag(baseline):
    home = next(h for h in baseline[0] if h.of_type("fall_detector"))
    sc = Scenario(K.FALL, home.home_id, 2, time(15, 0), 3 * HOUR, with_detector=False)
    events, [truth] = run([home], 3, [sc])
    assert truth.expected_alert == "no_activity" and truth.device_id is None
    assert not [e for e in events[home.home_id] if e.values.get("action") == "fall"]


def test_not_getting_up(baseline):
    home, evs, truth = scenario_run(baseline, "not_getting_up:{home}@d3", 2)
    p = home.persona
    assert local(home, truth.start).time() == time(int(p.wake_mean) // 60, int(p.wake_mean) % 60)
    assert truth.end - truth.start == 4 * HOUR and truth.device_id == "bed-1"
    assert bed_occupied(evs, home, truth.start) and bed_occupied(evs, home, truth.end - MIN)
    assert not [t for t in activity(evs, home) if truth.start <= t < truth.end]
    assert any(e.ts == truth.end and e.device_id == "bed-1" and e.values["occupancy"] is False for e in evs)
    check_only(K.NOT_GETTING_UP, signatures(evs, home), truth)


def test_night_wandering(baseline):
    home, evs, truth = scenario_run(baseline, "night_wandering:{home}@d3", 1)
    assert local(home, truth.start).date() == START + 2 * DAY and truth.device_id == "door-front"
    door = [(t, v) for t, v in door_changes(evs, home) if at_night(home, t)]
    assert [v for _, v in door] == [False, True, False, True]
    assert door[0][0] == truth.start and door[-1][0] == truth.end
    assert 10 <= truth.detail["minutes_out"] <= 30
    assert bed_occupied(evs, home, truth.end + 15 * MIN)
    check_only(K.NIGHT_WANDERING, signatures(evs, home), truth)


def test_night_bathroom_increase(baseline):
    home, evs, truth = scenario_run(baseline, "night_bathroom:{home}@d2+3d", 3, days=7)
    counts = visits_per_night(evs, home)
    nights = [date.fromisoformat(n) for n in truth.detail["nights"]]
    assert nights == [START + DAY, START + 2 * DAY, START + 3 * DAY]
    assert [counts[n] for n in nights] == truth.detail["visits_per_night"]
    assert all(c >= max(4, 3 * home.persona.night_visits_mean - 1) for c in truth.detail["visits_per_night"])
    # A naturally busy night next to them may join the run.
    check_only(K.NIGHT_BATHROOM, signatures(evs, home), truth, slack=DAY)


def test_cold_home(baseline):
    home, evs, truth = scenario_run(baseline, "cold_home:{home}@d3T18:00+6h", 0)
    restored = datetime.fromisoformat(truth.detail["heating_restored"])
    assert restored - truth.start == 6 * HOUR and truth.end > restored
    lounge = [(e.ts, e.values["temperature"]) for e in evs if e.device_id == "temp-lounge"]
    assert all(v < 16 for t, v in lounge if truth.start + 2 * HOUR <= t < restored)
    assert all(11.5 <= v < 14.5 for t, v in lounge if truth.start + 2 * HOUR <= t < restored)
    assert truth.detail["min_temperature"] == min(v for t, v in lounge if truth.start <= t <= truth.end)
    assert any(v >= 17 for t, v in lounge if truth.end < t < truth.end + 2 * HOUR)  # recovers
    check_only(K.COLD_HOME, signatures(evs, home), truth)


def test_pendant_press(baseline):
    home, evs, truth = scenario_run(baseline, "pendant_press:{home}@d2T09:40", 0)
    presses = [e for e in evs if e.device_id == "pendant-1" and "action" in e.values]
    assert [(e.ts, e.values["action"]) for e in presses] == [(truth.start, "press")]
    assert truth.expected_alert == "pendant" and truth.device_id == "pendant-1"
    check_only(K.PENDANT_PRESS, signatures(evs, home), truth)


def test_hub_offline(baseline):
    home, evs, truth = scenario_run(baseline, "hub_offline:{home}@d2T10:00+90m", 0)  # well after getting up
    inside = [e for e in evs if truth.start <= e.ts < truth.end]
    assert [(e.device_id, e.values) for e in inside] == [("gateway", {"status": "offline"})]
    after = [e for e in evs if e.ts >= truth.end]
    assert (after[0].device_id, after[0].values) == ("gateway", {"status": "online"})
    beats = [e.ts for e in after if e.device_id == "gateway"]
    assert beats[1] - beats[0] <= timedelta(seconds=300)
    check_only(K.HUB_OFFLINE, signatures(evs, home), truth)


def test_low_battery(baseline):
    home, evs, truth = scenario_run(baseline, "low_battery:{home}@d2T09:00", 2)
    mine = [e for e in evs if e.device_id == truth.device_id]
    assert any(e.ts == truth.start for e in mine)
    assert all(e.values["battery"] < 10 and e.values["battery_low"] is True for e in mine if e.ts >= truth.start)
    assert all(e.values["battery"] >= 15 and e.values["battery_low"] is False for e in mine if e.ts < truth.start)
    sig = signatures(evs, home)
    assert sig[K.LOW_BATTERY][0] == truth.start
    assert not {k: v for k, v in sig.items() if v and k is not K.LOW_BATTERY}


def test_flood(baseline):
    home, evs, truth = scenario_run(baseline, "flood:{home}@d4T07:45+10h", 3)
    leak = [(e.ts, e.values["water_leak"]) for e in evs if e.device_id == truth.device_id]
    assert (truth.start, True) in leak and (truth.end, False) in leak
    assert all(v is (truth.start <= t < truth.end) for t, v in leak)
    assert len([t for t, _ in leak if truth.start < t < truth.end]) >= 1  # check-ins keep saying so
    check_only(K.FLOOD, signatures(evs, home), truth, slack=timedelta(0))


def test_every_scenario_yields_exactly_one_ground_truth():
    homes = [make_home(SEED, i) for i in range(1, 4)]
    specs = [parse_scenario(f"{k}:home-{i % 3 + 1}@d{i % 4 + 1}") for i, k in enumerate(
        ["fall", "not_getting_up", "night_wandering", "night_bathroom", "cold_home", "pendant_press",
         "hub_offline", "low_battery", "flood", "pendant_press"])]
    _, truths = run(homes, 4, specs)
    assert len(truths) == len(specs)
    upfront = ground_truth(homes, START, 4, SEED, specs)
    assert sorted(t.to_json() for t in truths) == sorted(t.to_json() for t in upfront)
    for t in truths:
        assert t.start.utcoffset() == timedelta(0) and t.end >= t.start
        assert GroundTruth.from_dict(t.as_dict()) == t


def test_scenarios_outside_the_simulation_are_refused():
    homes = [make_home(SEED, 1)]
    with pytest.raises(ValueError, match="no home 'home-9'"):
        simulate(homes, START, 3, SEED, [parse_scenario("fall:home-9@d1")])
    with pytest.raises(ValueError, match=r"day 4 is outside the simulation \(days 1..3\)"):
        simulate(homes, START, 3, SEED, [parse_scenario("fall:home-1@d4")])
    with pytest.raises(ValueError, match="unique"):
        check_scenarios([], [homes[0], homes[0]], 3)
    with pytest.raises(ValueError, match="at night"):
        simulate(homes, START, 3, SEED, [parse_scenario("night_wandering:home-1@14:00")])
    with pytest.raises(ValueError, match="at night"):
        simulate_day(homes[0], 1, START, SEED, [parse_scenario("night_wandering:home-1@14:00")])


# --- parsing -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    ("fall:home-3@08:30", Scenario(K.FALL, "home-3", 1, time(8, 30))),
    ("fall:home-3@d2T08:30", Scenario(K.FALL, "home-3", 2, time(8, 30))),
    ("cold_home:home-1@d3T18:00+6h", Scenario(K.COLD_HOME, "home-1", 3, time(18), timedelta(hours=6))),
    ("night_bathroom:home-2@d5+3d", Scenario(K.NIGHT_BATHROOM, "home-2", 5, None, timedelta(days=3))),
    ("not_getting_up:home-4@d2", Scenario(K.NOT_GETTING_UP, "home-4", 2)),
    ("hub_offline:home-1@d1T10:00+90m", Scenario(K.HUB_OFFLINE, "home-1", 1, time(10), timedelta(minutes=90))),
    ("pendant_press:home-7", Scenario(K.PENDANT_PRESS, "home-7")),
    ("flood:home-1+1h30m", Scenario(K.FLOOD, "home-1", 1, None, timedelta(minutes=90))),
])
def test_parse_scenario(spec, expected):
    assert parse_scenario(spec) == expected
    assert parse_scenario(expected.spec()) == expected


@pytest.mark.parametrize("spec, message", [
    ("flod:home-1", "unknown scenario kind 'flod'.*known kinds: fall, not_getting_up, night_wandering"),
    ("fall:home-1@25:00", "bad time '25:00'"),
    ("fall:home-1@8h30", "bad time '8h30'"),
    ("fall:home-1@d0T08:00", "bad day 'd0'"),
    ("fall:home-1@dxT08:00", "bad day 'dx'"),
    ("fall:home-1@d2T08:00+6x", "bad duration '6x'"),
    ("fall:home-1+0m", "must be longer than zero"),
    ("fall:home/1", "bad home id"),
    ("fall", "expected KIND:HOME"),
])
def test_parse_scenario_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_scenario(spec)
