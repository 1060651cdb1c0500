"""Activity rules on real-shaped homes: learning only from the days a home was heard, the door
at night as a question of time, sensors by role and room, the replayed backtest, and a new
episode of a rule that must be seen. Every date here is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.backtest import backtest_store
from tecwatch.alerts.baseline import learn
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.lifecycle import transition
from tecwatch.alerts.patterns import evaluate
from tecwatch.alerts.replay import replay
from tecwatch.alerts.rules import BY_KEY, IMMEDIATE_RULES, PATTERN_RULES
from tecwatch.alerts.signals import (
    DOOR_OPEN, KETTLE, MOTION_ANY, MOTION_BATHROOM, SEAT, Fitted, empty, signals_from_readings,
)
from tecwatch.devices import Channel, make_reading
from tecwatch.registry.models import Alert, AlertState, Home
from tecwatch.store.sqlite import SQLiteStore

TZ = "Europe/London"
START = datetime(2025, 1, 6, tzinfo=UTC)  # winter: local time is UTC
MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def routine(days: int, first_day: int = 0, homes: tuple[str, ...] = ("home-a",), door_at: tuple[int, ...] = ()):
    """Homes up 07:00-22:00 every day from ``first_day`` (nothing before: not installed yet), with
    the front door at each local minute in ``door_at`` every night."""
    sig = empty(list(homes), START, START + days * DAY)
    for d in range(first_day, days):
        lo = sig.index_of(START + d * DAY + 7 * HOUR)
        hi = sig.index_of(START + d * DAY + 22 * HOUR)
        sig.counts[0, lo:hi, MOTION_ANY] = 1
        for minute in door_at if d + 1 < days else ():
            sig.counts[0, sig.index_of(START + (d + 1) * DAY + minute * MIN), DOOR_OPEN] = 1
    return sig


def test_learning_leaves_out_the_weeks_before_installation():
    sig = routine(28, first_day=18)  # installed ten days ago
    base = learn(sig, TZ)
    assert base.learned[0] and base.days_of_history[0] == 10
    # Every hour from 07:00 to 22:00 was active on every day it was installed.
    assert base.active_by_hour[0, 7:22].min() == 1.0 and base.active_by_hour[0, 3] == 0.0
    # The empty weeks are not "the longest quiet at home".
    assert base.gap_in[0].max() < 10 * 60


def test_a_home_never_heard_raises_nothing():
    sig = routine(10, homes=("home-a", "home-silent"))
    base = learn(sig.window(START, START + 9 * DAY), TZ)
    found = evaluate(sig, base, START + 9 * DAY + 15 * HOUR, TZ)
    assert not [a for a in found if a.home_id == "home-silent"], found


def test_door_at_night_depends_on_the_time_of_night():
    # Home at 00:40 every night: usual then, not at 03:10.
    sig = routine(16, door_at=(40,))
    base = learn(sig.window(START, START + 14 * DAY), TZ)
    night = START + 15 * DAY
    usual_b, odd_b = sig.index_of(night + 40 * MIN), sig.index_of(night + 190 * MIN)
    sig.counts[0, odd_b, DOOR_OPEN] = 1
    assert not [a for a in evaluate(sig, base, sig.time_of(usual_b + 1), TZ) if a.rule == "door_at_night"]
    odd = [a for a in evaluate(sig, base, sig.time_of(odd_b + 1), TZ) if a.rule == "door_at_night"]
    assert len(odd) == 1 and "opened at 03:15" in odd[0].reason, odd  # the end of its 5-minute bucket
    assert "usually used at night only around 00:00-01:00" in odd[0].reason


def test_sensors_count_by_role_and_room():
    t = START + 10 * HOUR

    def r(dev: str, kind: str, room: str | None, minutes: int, **values):
        return make_reading(home_id="h", device_id=dev, device_type=kind, channel=Channel.READING,
                            ts=t + minutes * MIN, seq=None, room=room, values=values)

    readings = [
        r("fridge", "door", "kitchen", 0, contact=False),  # no role: a kitchen contact is not the front door
        r("cupboard", "door", "hall", 10, contact=False),  # the registry says cupboard
        r("front", "door", "Hall", 20, contact=False),
        r("pir", "motion", "Bathroom", 30, occupancy=True),  # rooms matched case-insensitively
        r("seat", "chair", "lounge", 40, occupancy=True),  # the first state: not counted
        r("seat", "chair", "lounge", 50, occupancy=False),
        r("seat", "chair", "lounge", 60, occupancy=True),
    ]
    fitted = {("h", "cupboard"): Fitted("kitchen", "cupboard"), ("h", "front"): Fitted("hall", "entrance_door")}
    sig = signals_from_readings(readings, ["h"], START, START + DAY, fitted=fitted)
    totals = sig.counts[0].sum(axis=0)
    assert totals[DOOR_OPEN] == 1 and totals[KETTLE] == 2
    assert totals[MOTION_BATHROOM] == 1 and totals[SEAT] == 1
    assert totals[MOTION_ANY] == 2  # the bathroom, and getting up from the chair
    assert sig.activity()[0].sum() == 6


def test_replay_relearns_every_night():
    sig = routine(12)
    result = replay(sig, START + 3 * DAY, START + 12 * DAY, TZ)
    learned = {day: bool(b.learned[0]) for day, b in result.baselines.items()}
    assert len(learned) == 9
    assert not learned[START + 3 * DAY] and learned[START + 11 * DAY]  # seven days heard by then


def test_backtest_refuses_a_home_it_has_no_readings_for(tmp_path):
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        try:
            backtest_store(store, ["no-such-home"], START, START + DAY)
        except ValueError as err:
            assert "no-such-home" in str(err)
        else:
            raise AssertionError("an unknown home must be an error")
    finally:
        store.close()


def test_rules_table_is_the_one_source():
    assert IMMEDIATE_RULES["pendant"] == "pendant" and IMMEDIATE_RULES["leak"] == "flood"
    assert {r.key for r in PATTERN_RULES} == {"no_activity", "not_up", "door_at_night", "night_bathroom_increase",
                                              "long_stay", "cold_home"}
    assert all(r.mask is not None and r.title for r in PATTERN_RULES)
    assert BY_KEY["pendant"].priority == 1 and BY_KEY["low_battery"].priority == 4


def test_a_new_episode_is_seen_not_attached_quietly(registry):
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    with Session(registry) as s, s.begin():
        s.add(Home(id="home-1", created_at=now - DAY))
    engine = AlertEngine(registry, clock=lambda: now)
    first = engine.raise_hits([RuleHit("home-1", "not_up", now, "usually up by 08:00; first", {})])
    again = engine.raise_hits([RuleHit("home-1", "not_up", now + 5 * HOUR, "usually up by 08:00; second", {})])
    assert again == first  # raised again, with its escalation started over
    with Session(registry) as s:
        alert = s.get(Alert, first[0])
        assert alert.reason.endswith("second") and [e.kind for e in alert.events][-1] == "reraised"
        assert alert.escalation_step == 0 and alert.next_escalation_at is not None
    with Session(registry) as s, s.begin():
        transition(s, s.get(Alert, first[0]), AlertState.ACKNOWLEDGED, actor="op", at=now + 6 * HOUR)
    third = engine.raise_hits([RuleHit("home-1", "not_up", now + DAY, "usually up by 08:00; third", {})])
    assert third and third != first  # someone had it: a new alert, the old one superseded
    with Session(registry) as s:
        states = dict(s.execute(select(Alert.id, Alert.state)).all())
        assert states[first[0]] is AlertState.CANCELLED and states[third[0]] is AlertState.RAISED
