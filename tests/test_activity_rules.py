"""Activity rules on real-shaped homes: learning only from the days a home was heard, the door
at night as a question of time, sensors by role and room, the replayed backtest, and a new
episode of a rule that must be seen. Every date here is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.backtest import backtest_store, baseline_in_words
from tecwatch.alerts.baseline import learn
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.lifecycle import transition
from tecwatch.alerts.patterns import evaluate
from tecwatch.alerts.replay import replay
from tecwatch.alerts.scheduler import RuleRunner, person_alert_marks
from tecwatch.alerts.rules import BY_KEY, IMMEDIATE_RULES, PATTERN_RULES
from tecwatch.alerts.signals import (
    BED_IN, BED_OUT, DOOR_OPEN, KETTLE, MOTION_ANY, MOTION_BATHROOM, MOTION_BEDROOM, MOTION_KITCHEN, SEAT, TEMP_MIN, FLUSH, Fitted,
    empty,
    signals_from_readings,
)
from tecwatch.devices import Channel, make_reading
from tecwatch.registry.models import Alert, AlertState, Home, HomeBaseline, Outcome
from tecwatch.settings import AlertSettings
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
            # Home, and in: moving about five minutes later.
            sig.counts[0, sig.index_of(START + (d + 1) * DAY + minute * MIN), DOOR_OPEN] = 1
            sig.counts[0, sig.index_of(START + (d + 1) * DAY + (minute + 5) * MIN), MOTION_ANY] = 1
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
    found = evaluate(sig, base, START + 9 * DAY + 15 * HOUR)
    assert not [a for a in found if a.home_id == "home-silent"], found


def test_door_at_night_depends_on_the_time_of_night():
    # Home at 00:40 every night: usual then, not at 03:10.
    sig = routine(16, door_at=(40,))
    base = learn(sig.window(START, START + 14 * DAY), TZ)
    night = START + 15 * DAY
    usual_b, odd_b = sig.index_of(night + 40 * MIN), sig.index_of(night + 190 * MIN)
    sig.counts[0, odd_b, DOOR_OPEN] = 1
    assert not [a for a in evaluate(sig, base, sig.time_of(usual_b + 1)) if a.rule == "door_at_night"]
    odd = [a for a in evaluate(sig, base, sig.time_of(odd_b + 1)) if a.rule == "door_at_night"]
    assert len(odd) == 1 and "opened at 03:15" in odd[0].reason, odd  # the end of its 5-minute bucket
    assert "usually used at night only around 00:00-01:00" in odd[0].reason


def test_coming_home_late_is_not_going_out_at_night():
    """Out at 20:00 and back at 01:00 with nothing moving in between: the door at 01:00 is a return.
    Going out at 03:10 after moving about at home is an alert, and so is going out again after
    the return (door, quiet, door, quiet, door: the third is leaving)."""
    sig = routine(16)
    base = learn(sig.window(START, START + 14 * DAY), TZ)
    evening = START + 14 * DAY
    sig.counts[0, sig.index_of(evening + 20 * HOUR):, :TEMP_MIN] = 0  # went out at 20:00
    sig.counts[0, sig.index_of(evening + 20 * HOUR), DOOR_OPEN] = 1
    back, out_again = evening + 25 * HOUR, evening + 27 * HOUR + 10 * MIN
    for t in (back, out_again):
        sig.counts[0, sig.index_of(t), DOOR_OPEN] = 1
    door = [a for a in evaluate(sig, base, out_again + 5 * MIN, window=8 * HOUR) if a.rule == "door_at_night"]
    assert [a.at for a in door] == [out_again + 5 * MIN], door
    # The same night moving about at home before the 01:00 door: that one is going out.
    sig.counts[0, sig.index_of(back - 20 * MIN), MOTION_ANY] = 1
    door = [a for a in evaluate(sig, base, back + 5 * MIN, window=HOUR) if a.rule == "door_at_night"]
    assert [a.at for a in door] == [back + 5 * MIN], door


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


def test_rooms_and_contacts_named_outside_the_list():
    """Readings from devices the registry does not know carry their own room names: the rules
    read what the words say, and only a contact that could be the way in counts as the front door."""
    t = START + 10 * HOUR

    def r(dev: str, kind: str, room: str | None, minutes: int, **values):
        return make_reading(home_id="h", device_id=dev, device_type=kind, channel=Channel.READING,
                            ts=t + minutes * MIN, seq=None, room=room, values=values)

    readings = [
        r("m1", "motion", "Master Bedroom", 0, occupancy=True),
        r("m2", "motion", "WC", 10, occupancy=True),
        r("m3", "motion", "Spare bedroom", 20, occupancy=True),
        r("m4", "motion", "Kitchenette", 30, occupancy=True),
        r("Fridge", "door", "Hall", 40, contact=False),  # the device's name says what it is
        r("hall-bedroom-door", "door", "Hall", 50, contact=False),
        r("Frontdoor", "door", "Entrance", 60, contact=False),
        r("door-2", "door", "Hall", 70, contact=False),  # nothing says otherwise: the way in
    ]
    sig = signals_from_readings(readings, ["h"], START, START + DAY)
    at = {m: sig.index_of(t + m * MIN) for m in range(0, 80, 10)}
    c = sig.counts[0]
    assert c[at[0], MOTION_BEDROOM] == 1 and c[at[10], MOTION_BATHROOM] == 1 and c[at[30], MOTION_KITCHEN] == 1
    assert c[at[20], MOTION_ANY] == 1 and c[at[20], MOTION_BEDROOM] == 0
    assert [int(c[at[m], DOOR_OPEN]) for m in (40, 50, 60, 70)] == [0, 0, 1, 1]
    # The fridge is a sign of being up; the door into the bedroom is someone about, no more.
    assert [int(c[at[m], KETTLE]) for m in (40, 50, 60, 70)] == [1, 0, 0, 0]
    assert c[at[50], MOTION_ANY] == 1 and c[at[50], MOTION_BEDROOM] == 0


def test_a_toilet_flush_is_a_bathroom_visit():
    """A home whose only bathroom sensor is a flush sensor: flushes are visits, a check-in is not,
    and three nights of extra flushes are found by noon after the third."""
    def r(dev: str, kind: str, room: str, at: datetime, **values):
        return make_reading(home_id="home-a", device_id=dev, device_type=kind, channel=Channel.READING,
                            ts=at, seq=None, room=room, values=values)

    days, busy = 20, (16, 17, 18)  # the nights that begin on these days have five flushes
    readings = []
    for d in range(days):
        day = START + d * DAY
        readings += [r("pir", "motion", "lounge", day + 7 * HOUR + m * MIN, occupancy=True) for m in range(0, 900, 5)]
        nightly = (60, 120, 180, 240, 300) if d - 1 in busy else (180,)
        readings += [r("flush", "flush", "toilet", day + m * MIN, flush=True) for m in nightly if d]
        readings.append(r("flush", "flush", "toilet", day + 12 * HOUR + 2 * MIN, flush=False))  # a check-in
    sig = signals_from_readings(readings, ["home-a"], START, START + days * DAY)
    totals = sig.counts[0].sum(axis=0)
    assert totals[MOTION_BATHROOM] == (days - 1) + 3 * 4  # one a night, four more on the busy nights
    base = learn(sig.window(START, START + 16 * DAY), TZ)
    assert base.learned[0] and round(float(base.night_visits_mean[0])) == 1
    third_noon = START + 19 * DAY + 12 * HOUR
    before = [a for a in evaluate(sig, base, START + 18 * DAY + 12 * HOUR) if a.rule == "night_bathroom_increase"]
    after = [a for a in evaluate(sig, base, third_noon) if a.rule == "night_bathroom_increase"]
    assert not before and len(after) == 1, (before, after)


def test_a_home_with_only_contact_sensors_learns_its_routine():
    """No motion, bed or chair sensor: the fridge at 08:00, 12:30, 18:00 and 23:00, the toilet
    flushed at 03:00. Its bedtime is the last kitchen use of the evening (the night's flush is
    not being up), so the routine is learned rather than left on defaults; and a flush followed
    by hours of quiet is someone who left the bathroom, not a long stay in it."""
    sig = empty(["home-a"], START, START + 16 * DAY)
    for d in range(16):
        for minutes in (8 * 60, 12 * 60 + 30, 18 * 60, 23 * 60):
            sig.counts[0, sig.index_of(START + d * DAY + minutes * MIN), KETTLE] = 1
        night = sig.index_of(START + d * DAY + 3 * HOUR)
        sig.counts[0, night, MOTION_ANY] = sig.counts[0, night, MOTION_BATHROOM] = sig.counts[0, night, FLUSH] = 1
    base = learn(sig.window(START, START + 15 * DAY), TZ)
    routine_words = base.explain(0)
    assert base.learned[0], routine_words
    assert routine_words["usual_bedtime"] == "23:05" and routine_words["usual_wake"] == "08:00", routine_words
    found = evaluate(sig, base, START + 15 * DAY + 5 * HOUR + 30 * MIN, window=3 * HOUR)
    assert not [a for a in found if a.rule == "long_stay"], found


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
        old, new = s.get(Alert, first[0]), s.get(Alert, third[0])
        assert new.detail["follows_alert"] == old.id and new.reason.endswith("third")
        assert old.events[-1].note == f"superseded by alert {new.id}"


def test_a_false_alarm_day_is_learned_from(registry):
    """Days with an alert about the person are left out of learning, except when the monitoring
    centre resolved the alert as a false alarm: that day was usual after all."""
    now = START + 10 * DAY
    with Session(registry) as s, s.begin():
        s.add(Home(id="home-a", created_at=START))
    engine = AlertEngine(registry, clock=lambda: now)
    at = {rule: START + d * DAY + 14 * HOUR for rule, d in (("no_activity", 2), ("long_stay", 4), ("not_up", 6))}
    ids = {rule: engine.raise_hits([RuleHit("home-a", rule, t, "quiet", {"baseline_learned": True})])[0]
           for rule, t in at.items()}
    with Session(registry) as s, s.begin():
        transition(s, s.get(Alert, ids["no_activity"]), AlertState.RESOLVED, actor="op", at=now,
                   outcome=Outcome.FALSE_ALARM)
        transition(s, s.get(Alert, ids["long_stay"]), AlertState.RESOLVED, actor="op", at=now,
                   outcome=Outcome.RESPONDER_ATTENDED)
    history = empty(["home-a"], START, START + 10 * DAY)
    marks = person_alert_marks(registry, history)
    assert {history.time_of(b) for b in np.flatnonzero(marks[0])} == {
        at["long_stay"], at["not_up"]}  # the open one and the one a responder attended


def up_at_seven(zones: dict[str, str], days: int, lie_in: dict[str, int] | None = None):
    """Homes up 07:00-22:00 in their own local time every day; a home in ``lie_in`` stays in bed
    (nothing heard) on that day until noon."""
    sig = empty(list(zones), START, START + days * DAY)
    for row, (home, zone) in enumerate(zones.items()):
        for d in range(days):
            local = datetime(2025, 1, 6 + d, tzinfo=ZoneInfo(zone))
            first = 12 if (lie_in or {}).get(home) == d else 7
            lo, hi = sig.index_of(local + first * HOUR), sig.index_of(local + 22 * HOUR)
            sig.counts[row, max(lo, 0):max(hi, 0), MOTION_ANY] = 1
    return sig


ZONES = {"home-london": "Europe/London", "home-new-york": "America/New_York"}


def test_each_home_is_judged_in_its_own_time_zone():
    # Learned together, each in its own zone: both get up at 07:00 local, five hours apart in UTC.
    sig = up_at_seven(ZONES, 16, lie_in={"home-new-york": 15})
    base = learn(sig.window(START, START + 15 * DAY), list(ZONES.values()))
    assert [base.explain(i)["usual_wake"] for i in range(2)] == ["07:00", "07:00"]
    assert base.explain(1)["timezone"] == "America/New_York"
    # 13:10 UTC is 08:10 in New York: an hour past its usual 07:00, nobody up there.
    found = evaluate(sig, base, START + 15 * DAY + 13 * HOUR + 10 * MIN)
    assert [(a.home_id, a.rule) for a in found] == [("home-new-york", "not_up")], found
    assert "(now 08:10)" in found[0].reason
    # Learned as if New York were London, its 12:00 UTC mornings would look like a late riser's.
    wrong = learn(sig.window(START, START + 15 * DAY), "Europe/London")
    assert wrong.explain(1)["usual_wake"] == "12:00"


def test_the_service_and_the_baseline_command_use_the_home_zone(tmp_path, registry):
    now = START + 15 * DAY + 13 * HOUR + 10 * MIN
    sig = up_at_seven(ZONES, 16, lie_in={"home-new-york": 15})
    readings = [make_reading(home_id=home, device_id="pir", device_type="motion", channel=Channel.READING,
                             ts=sig.time_of(b) + MIN, seq=None, room="lounge", values={"occupancy": True})
                for row, home in enumerate(sig.home_ids) for b in np.flatnonzero(sig.counts[row, :, MOTION_ANY])
                if sig.time_of(b) + MIN < now]
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        store.write(readings)
        with Session(registry) as s, s.begin():
            s.add(Home(id="home-london", timezone="Europe/London", created_at=START))
            s.add(Home(id="home-new-york", timezone="America/New_York", created_at=START))
        engine = AlertEngine(registry, clock=lambda: now)
        # The setting names London: only the registry says where New York is.
        runner = RuleRunner(store, registry, engine, AlertSettings(timezone="Europe/London"), clock=lambda: now)
        runner.pattern_pass()
        with Session(registry) as s:
            saved = {b.home_id: b.summary for b in s.scalars(select(HomeBaseline))}
            raised = [(a.home_id, a.rule) for a in s.scalars(select(Alert))]
        assert saved["home-new-york"]["usual_wake"] == "07:00" and saved["home-london"]["usual_wake"] == "07:00"
        assert raised == [("home-new-york", "not_up")]
        words = baseline_in_words(store, "home-new-york", now, tz="America/New_York")
        assert "Times are local to the home (America/New_York)." in words and "Usually up at 07:00" in words[2]
    finally:
        store.close()


def mornings(wakes: list[int], bed_sensor: bool = False):
    """One London home (winter: local time is UTC) up at ``wakes[d]`` local minutes on day d,
    moving about until 22:00; with a bed sensor, in bed from 23:00 until getting up. A wake of
    None: still in bed (nothing heard) until 13:00, then up."""
    sig = empty(["home-a"], START, START + len(wakes) * DAY)
    for d, wake in enumerate(wakes):
        day = START + d * DAY
        up = 13 * 60 if wake is None else wake
        sig.counts[0, sig.index_of(day + up * MIN):sig.index_of(day + 22 * HOUR), MOTION_ANY] = 1
        if bed_sensor:
            if d:
                sig.counts[0, sig.index_of(day + up * MIN), BED_OUT] = 1
            sig.counts[0, sig.index_of(day + 23 * HOUR), BED_IN] = 1
    return sig


def not_up_at(sig, base, day: int, minute: int):
    return [a for a in evaluate(sig, base, START + day * DAY + minute * MIN) if a.rule == "not_up"]


def test_not_up_knows_weekday_and_weekend_mornings():
    # 6 January 2025 is a Monday: up at 07:00 on weekdays, 10:00 at weekends, for four weeks.
    wakes = [10 * 60 if (START + d * DAY).weekday() >= 5 else 7 * 60 for d in range(26)]
    sig = mornings(wakes + [None, 10 * 60, None])  # Sat 1 Feb in bed; Mon 3 Feb in bed
    base = learn(sig.window(START, START + 26 * DAY), TZ)
    assert base.explain(0)["up_by_weekdays"] == "07:00" and base.explain(0)["up_by_weekends"] == "10:00"
    assert not not_up_at(sig, base, 26, 9 * 60 + 30)  # a Saturday lie-in is usual
    assert not_up_at(sig, base, 26, 11 * 60 + 30)
    monday = not_up_at(sig, base, 28, 8 * 60 + 5)  # a weekday is judged by weekdays: 07:00 + 1 h
    assert monday and "usually up by 07:00 on weekdays" in monday[0].reason, monday


def test_still_in_bed_is_not_a_late_riser():
    # Up anywhere between 08:30 and 10:30, with a bed sensor: a late riser.
    wakes = [8 * 60 + 30, 9 * 60, 9 * 60 + 30, 10 * 60, 10 * 60 + 30, 9 * 60 + 15, 8 * 60 + 45] * 2
    sig = mornings(wakes + [10 * 60 + 25, None], bed_sensor=True)
    base = learn(sig.window(START, START + 14 * DAY), TZ)
    # The last morning, a trip to the bathroom at 05:00 and back to bed: no sign of being up.
    trip = START + 15 * DAY + 5 * HOUR
    for at, signal in ((trip, BED_OUT), (trip + 5 * MIN, MOTION_ANY), (trip + 5 * MIN, MOTION_BATHROOM),
                       (trip + 10 * MIN, BED_IN)):
        sig.counts[0, sig.index_of(at), signal] = 1
    # Up at 10:25, within the usual spread: nothing that morning.
    assert not any(not_up_at(sig, base, 14, m) for m in range(9 * 60, 13 * 60, 5))
    # In bed at 10:05 is still usual for them; in bed at 11:30, with nothing else heard, is not.
    assert not not_up_at(sig, base, 15, 10 * 60 + 5)
    late = not_up_at(sig, base, 15, 11 * 60 + 30)
    assert late and "still in bed" in late[0].reason and late[0].detail["in_bed"], late
