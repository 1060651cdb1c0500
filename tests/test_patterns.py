"""Activity-pattern rules on learned baselines, checked against simulated homes with injected scenarios."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from tecwatch.alerts.baseline import learn
from tecwatch.alerts.measures import STAY_ROOMS
from tecwatch.alerts.patterns import PatternAlert, backtest, evaluate
from tecwatch.alerts.signals import (
    BED_IN,
    BED_OUT,
    DOOR_OPEN,
    KETTLE,
    MOTION_ANY,
    MOTION_BATHROOM,
    MOTION_KITCHEN,
    OFFLINE,
    PENDANT,
    TEMP_MIN,
    Signals,
    empty,
    signals_from_readings,
)
from tecwatch.devices import Channel, make_reading
from tecwatch.simulators.encode import PlatformEncoder
from tecwatch.simulators.home import at_local, make_home
from tecwatch.simulators.routine import ground_truth, simulate_range
from tecwatch.simulators.scenarios import (
    GroundTruth,
    Scenario,
    ScenarioKind,
    parse_scenario,
)

SEED, START, TZ = 5, date(2025, 1, 6), "Europe/London"
HOMES, LEARN_DAYS, EVAL_DAYS = 24, 28, 32
MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
K = ScenarioKind
EXPECTED = {K.FALL: "no_activity", K.NOT_GETTING_UP: "not_up", K.NIGHT_WANDERING: "door_at_night",
            K.NIGHT_BATHROOM: "night_bathroom_increase", K.COLD_HOME: "cold_home"}
# How soon after the scenario starts its alert must be raised (night_bathroom: after it ends,
# since it takes three nights to be sure).
MAX_DELAY = {K.FALL: 8 * HOUR, K.NOT_GETTING_UP: 3 * HOUR, K.NIGHT_WANDERING: 10 * MIN,
             K.NIGHT_BATHROOM: 12 * HOUR, K.COLD_HOME: 4 * HOUR}
KINDS = (K.FALL, K.NOT_GETTING_UP, K.NIGHT_WANDERING, K.NIGHT_BATHROOM, K.COLD_HOME, K.HUB_OFFLINE)
ACTIVITY_RULES = ("no_activity", "not_up", "long_stay", "door_at_night")


def scenarios() -> list[Scenario]:
    """Two scenarios a home on evaluation days, each kind in eight homes; outages over active hours."""
    out = []
    for i in range(1, HOMES + 1):
        for n, (kind, day) in enumerate(((KINDS[i % 6], LEARN_DAYS + 3 + i % 5),
                                         (KINDS[(i + 3) % 6], LEARN_DAYS + 17 + i % 5))):
            if kind is K.HUB_OFFLINE:
                # A long outage in the morning, then one over the middle of the day.
                spec = f"hub_offline:home-{i}@d{day}T05:00+6h" if n == 0 else f"hub_offline:home-{i}@d{day}T11:00+5h"
                out.append(parse_scenario(spec))
            else:
                out.append(Scenario(kind, f"home-{i}", day))
    return out


@pytest.fixture(scope="module")
def run():
    homes = [make_home(SEED, i) for i in range(1, HOMES + 1)]
    scs = scenarios()
    days = LEARN_DAYS + EVAL_DAYS
    encoder = PlatformEncoder()
    readings = []
    for home in homes:
        mine = [s for s in scs if s.home_id == home.home_id]
        readings += [encoder.reading(home, e) for e in simulate_range(home, START, 1, days, SEED, mine)]
    truths = ground_truth(homes, START, days, SEED, scs)
    ids = [h.home_id for h in homes]
    start, end = at_local(TZ, START, 0), at_local(TZ, START + days * DAY, 0)
    signals = signals_from_readings(readings, ids, start, end)
    split = at_local(TZ, START + LEARN_DAYS * DAY, 0)
    base = learn(signals.window(start, split), TZ)
    alerts = backtest(signals, base, split, end)
    return signals, base, alerts, truths, split, end


def explained(a: PatternAlert, truths: list[GroundTruth]) -> bool:
    return any(t.home_id == a.home_id and t.start - 2 * HOUR <= a.at <= t.end + 12 * HOUR for t in truths)


def test_every_scenario_raises_its_rule_in_time(run):
    _signals, base, alerts, truths, _split, _end = run
    assert base.learned.all(), "28 days of history should be enough for every home"
    missed, delays = [], {k: [] for k in EXPECTED}
    for t in truths:
        if t.kind not in EXPECTED:
            continue
        ref = t.end if t.kind is K.NIGHT_BATHROOM else t.start
        hits = [a for a in alerts if a.home_id == t.home_id and a.rule == EXPECTED[t.kind]
                and t.start - 5 * MIN <= a.at <= ref + MAX_DELAY[t.kind]]
        if hits:
            delays[t.kind].append((min(a.at for a in hits) - ref) / MIN)
        else:
            missed.append(f"{t.kind}:{t.home_id}@{t.start:%Y-%m-%dT%H:%M}")
    figures = "; ".join(f"{k}: {len(v)} found, delay median {np.median(v):.0f} min max {max(v):.0f} min"
                        for k, v in delays.items() if v)
    print(f"\ndetection: {figures}; missed: {missed}")
    assert not missed, f"missed {missed}; {figures}"


def test_normal_days_raise_few_false_alerts(run):
    _signals, _base, alerts, truths, split, end = run
    false = [a for a in alerts if not explained(a, truths)]
    per_home = Counter(a.home_id for a in false if a.rule in ACTIVITY_RULES)
    by_rule = Counter(a.rule for a in false)
    months = (end - split) / (30 * DAY)
    text = (f"{len(false)} unexplained alerts over {HOMES} homes x {EVAL_DAYS} days "
            f"({len(false) / HOMES / months:.2f} per home per 30 days); by rule {dict(by_rule)}; "
            f"activity alerts by home {dict(per_home)}; examples {[(a.home_id, a.rule, a.reason) for a in false[:3]]}")
    print(f"\nfalse alerts: {text}")
    assert all(n <= months for n in per_home.values()), text
    assert sum(by_rule.values()) <= HOMES * months, text


def test_outages_suppress_activity_alerts(run):
    signals, _base, alerts, truths, _split, _end = run
    outages = [t for t in truths if t.kind is K.HUB_OFFLINE]
    assert len(outages) == 8
    assert signals.counts[:, :, OFFLINE].any()
    during = [a for a in alerts for t in outages
              if a.home_id == t.home_id and a.rule in ACTIVITY_RULES and t.start <= a.at <= t.end + 30 * MIN]
    print(f"\noutages: {len(outages)}, activity alerts during them: {len(during)}")
    assert not during, [(a.home_id, a.rule, a.at, a.reason) for a in during]


def test_live_evaluate_matches_backtest(run):
    signals, base, alerts, truths, _split, _end = run
    t = next(t for t in truths if t.kind is K.NIGHT_WANDERING)
    first = min(a.at for a in alerts if a.home_id == t.home_id and a.rule == "door_at_night" and a.at >= t.start)
    live = evaluate(signals, base, first)
    assert any(a.home_id == t.home_id and a.rule == "door_at_night" and a.at == first for a in live)
    assert "front door opened at" in next(a.reason for a in live if a.rule == "door_at_night")


def test_not_up_reason_states_thresholds(run):
    _signals, _base, alerts, _truths, _split, _end = run
    a = next(a for a in alerts if a.rule == "not_up")
    assert a.reason.startswith("usually up by ")
    assert any(f"; {seen} by " in a.reason for seen in ("no sign of being up", "still in bed", "moving only in the bedroom"))
    assert set(a.detail) >= {"usual_up_by", "due"}


def test_defaults_without_history():
    start = datetime(2025, 3, 3, tzinfo=UTC)
    sig = empty(["home-a", "home-b"], start, start + 3 * DAY)
    sig.counts[0, 100:110, MOTION_ANY] = 1
    base = learn(sig, TZ, min_days=7)
    assert not base.learned.any()
    assert list(base.days_of_history) == [1, 0]
    info = base.explain(1)
    assert info["learned"] is False
    assert info["usual_wake"] == "09:00" and info["usual_bedtime"] == "23:00"
    assert info["night_bathroom_visits"].startswith("1.0")
    assert info["usually_active_hours"] == "08:00-22:00"


def test_explain_describes_the_learned_routine(run):
    _signals, base, _alerts, _truths, _split, _end = run
    info = base.explain(0)
    assert info["home_id"] == "home-1" and info["learned"] is True and info["days_of_history"] >= 27
    for key in ("usual_wake", "up_by", "usual_bedtime"):
        assert len(info[key]) == 5 and info[key][2] == ":"
    assert "a night" in info["night_bathroom_visits"] and "of nights" in info["front_door_at_night"]
    home = make_home(SEED, 1)
    learned = int(info["usual_wake"][:2]) * 60 + int(info["usual_wake"][3:])
    assert abs(learned - home.persona.wake_mean) <= 45, (info, home.persona)


def test_signals_ignore_check_ins():
    start = datetime(2025, 3, 3, tzinfo=UTC)
    t = start + HOUR

    def r(dev: str, kind: str, room: str, minutes: int, channel: Channel = Channel.READING, **values):
        return make_reading(home_id="h", device_id=dev, device_type=kind, channel=channel,
                            ts=t + minutes * MIN, seq=None, room=room, values=values)

    readings = [
        r("door", "door", "hall", 0, contact=True),  # closed: a check-in
        r("bed", "bed", "bedroom", 0, occupancy=True),  # first state: not counted
        r("bed", "bed", "bedroom", 10, occupancy=True),  # repeat: not counted
        r("bed", "bed", "bedroom", 20, occupancy=False),
        r("bed", "bed", "bedroom", 30, occupancy=True),
        r("pir", "motion", "bathroom", 20, occupancy=True),
        r("pir", "motion", "bathroom", 25, occupancy=False),
        r("plug", "plug", "kitchen", 40, power=0.0),
        r("plug", "plug", "kitchen", 45, power=2000.0),
        r("pendant", "pendant", "lounge", 50, channel=Channel.EVENT, battery=80.0),
        r("door", "door", "hall", 55, contact=False),
        r("t", "temperature", "lounge", 5, temperature=15.5),
        r("t2", "temperature", "bedroom", 6, temperature=14.9),
    ]
    sig = signals_from_readings(readings, ["h"], start, start + 3 * HOUR)
    totals = sig.counts[0].sum(axis=0)
    assert totals[DOOR_OPEN] == 1 and totals[BED_OUT] == 1 and totals[BED_IN] == 1
    assert totals[MOTION_ANY] == totals[MOTION_BATHROOM] == 1 and totals[KETTLE] == 1 and totals[PENDANT] == 0
    temps = sig.temperature_c()[0]
    assert temps[13] == pytest.approx(14.9) and np.isnan(temps[0])
    assert sig.activity()[0].sum() == 4  # the bed exit and bathroom motion share a bucket


@pytest.mark.parametrize("room, plane", [("bathroom", MOTION_BATHROOM), ("kitchen", MOTION_KITCHEN)])
def test_long_stay_in_one_room(run, room, plane):
    """Last seen in the bathroom or kitchen, then nothing: long_stay once past the usual stay there."""
    signals, base, _alerts, _truths, split, _end = run
    h = 0
    usual = base.explain(h)["longest_stay"][room]
    r = [name for name, _ in STAY_ROOMS].index(room)
    limit = max(float(base.stay_max[h, r]) + 20.0, 30.0 if room == "bathroom" else 60.0)
    seen = at_local(TZ, START + (LEARN_DAYS + 10) * DAY, 11 * 60)  # 11:00 on an evaluation day
    sig = Signals(signals.home_ids, signals.start, signals.bucket, signals.counts.copy())
    b = sig.index_of(seen)
    sig.counts[h, b] = 0
    sig.counts[h, b, MOTION_ANY] = sig.counts[h, b, plane] = 1
    sig.counts[h, b + 1:b + 1 + 8 * 12, :TEMP_MIN] = 0  # nothing moves for eight hours
    before = evaluate(sig, base, seen + timedelta(minutes=limit - 5))
    assert not [a for a in before if a.home_id == "home-1" and a.rule == "long_stay"]
    after = [a for a in evaluate(sig, base, seen + timedelta(minutes=limit + 10))
             if a.home_id == "home-1" and a.rule == "long_stay"]
    assert len(after) == 1 and after[0].detail["room"] == room, after
    assert f"last movement in the {room} at 11:05" in after[0].reason and f"usually at most {usual}" in after[0].reason
