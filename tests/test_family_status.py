"""'Is Dad OK?' worked out from a real store and registry at a fixed moment, and the home view's
device health that it draws on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from tecwatch.alerts.baseline import learn
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.signals import empty
from tecwatch.api import familyview, homeview
from tecwatch.devices import Channel, make_reading
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.registry.models import Device, HomeBaseline
from tecwatch.settings import AlertSettings

from apisupport import seed_cast

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=timezone.utc)  # winter: London time is UTC
MIN = timedelta(minutes=1)


def motion(at: datetime, room: str = "lounge"):
    return make_reading(home_id="home-1", device_id=f"pir-{room}", device_type="motion", channel=Channel.READING,
                        ts=at, seq=None, room=room, values={"occupancy": True})


def hub(at: datetime, status: str):
    return make_reading(home_id="home-1", device_id="gateway", device_type="gateway", channel=Channel.STATUS,
                        ts=at, seq=None, room=None, values={"status": status})


def learned_limits(**values) -> dict:
    """A learned routine's limits as the nightly learning saves them: the defaults, then ``values``."""
    return learn(empty(["home-1"], NOW - 24 * 60 * MIN, NOW), "Europe/London").values(0) | {"learned": True} | values


def door(at: datetime, battery: float):
    return make_reading(home_id="home-1", device_id="door-front", device_type="door", channel=Channel.READING,
                        ts=at, seq=None, room="hall", values={"contact": True, "battery": battery})


@pytest.fixture
def world(registry, tmp_path):
    cast = seed_cast(registry)
    with Session(registry) as s, s.begin():
        s.add(Device(home_id="home-1", device_id="door-front", type="door", room="hall", installed_at=NOW - 30 * 24 * 60 * MIN))
        s.add(HomeBaseline(home_id="home-1", learned_at=NOW - 7 * 60 * MIN, learned=True, days_of_history=28,
                           wake_median_min=7 * 60 + 30, up_by_min=8 * 60 + 10, bed_median_min=22 * 60 + 30,
                           active_by_hour={str(h): 1.0 if 8 <= h < 22 else 0.0 for h in range(24)}, summary={},
                           limits=learned_limits(gap_in=[60.0] * 24, wake_median=7 * 60 + 30.0, wake_p90=8 * 60 + 10.0,
                                                 wake_median_by_kind=[7 * 60 + 30.0] * 2,
                                                 wake_p90_by_kind=[8 * 60 + 10.0] * 2,
                                                 active_by_hour=[1.0 if 8 <= h < 22 else 0.0 for h in range(24)])))
    store = SQLiteStore(tmp_path / "readings.db")
    # Last night and this morning: in bed by 22:30, up at 07:45; the hub reports every 5 minutes.
    store.write([motion(NOW - timedelta(hours=12)), motion(NOW.replace(hour=10, minute=20)), door(NOW - 60 * MIN, 80.0)]
                + [motion(NOW.replace(hour=7, minute=45) + n * 5 * MIN) for n in range(4)]
                + [hub(NOW - n * 5 * MIN, "online") for n in range(1, 13)])
    yield cast, store
    store.close()


def test_a_usual_morning(registry, world):
    cast, store = world
    with Session(registry) as s:
        st = familyview.status(s, store, cast.arthur_id, AlertSettings(), NOW)
    assert st.level == "ok" and st.headline == "Arthur seems fine: today looks like a usual day."
    assert st.today == "Up and about since 07:45 (usually up by 08:10)."
    assert st.last_activity == NOW.replace(hour=10, minute=20)
    assert st.routine_learned and st.open_alerts == [] and st.device_problems == []
    assert len(st.activity) == 7 * 24
    by_hour = {a.hour: a.count for a in st.activity}
    assert by_hour[NOW.replace(hour=7, minute=0)] == 3 and by_hour[NOW.replace(hour=10, minute=0)] == 1
    assert sum(by_hour.values()) == 6


def test_not_up_quiet_low_battery_and_alerts(registry, world):
    cast, store = world
    with Session(registry) as s:
        # At 10:30 the next day nothing has moved since yesterday's 10:20.
        tomorrow = NOW + timedelta(days=1)
        store.write([hub(tomorrow - n * 5 * MIN, "online") for n in range(3)] + [door(tomorrow - 10 * MIN, 9.0)])
        st = familyview.status(s, store, cast.arthur_id, AlertSettings(), tomorrow)
    assert st.level == "check"
    assert st.today == "No sign of getting up yet today; usually up by 08:10."
    assert st.headline == "Worth a look: No sign of getting up yet today; usually up by 08:10."
    assert st.device_problems == ["The hall door sensor has a low battery (9%).",
                                  "The lounge motion sensor has been silent since 25 Nov 10:20."]
    AlertEngine(registry, clock=lambda: tomorrow).raise_hits(
        [RuleHit("home-1", "not_up", tomorrow, "usually up by 08:10; no activity by 09:10", {})])
    with Session(registry) as s:
        st = familyview.status(s, store, cast.arthur_id, AlertSettings(), tomorrow)
    assert st.level == "alert" and st.headline == "Arthur has an alert open: waiting for the monitoring centre."
    assert [(a.title, a.state) for a in st.open_alerts] == [("Not up at the usual time", "raised")]


def test_quiet_for_hours_in_the_day(registry, world):
    """The alert service's no_activity rule decides, on the limits learned for the home: a quiet
    spell beginning at 10:20 usually lasts at most an hour, so the rule's floor of two hours holds."""
    cast, store = world
    # Up and about this morning (several minutes of movement), last moved at 10:20.
    store.write([hub(NOW.replace(hour=14) - n * 5 * MIN, "online") for n in range(48)])
    with Session(registry) as s:
        before = familyview.status(s, store, cast.arthur_id, AlertSettings(), NOW.replace(hour=12, minute=15))
        after = familyview.status(s, store, cast.arthur_id, AlertSettings(), NOW.replace(hour=12, minute=30))
    assert before.level == "ok", before.headline  # 1 h 55 min: not yet
    assert after.level == "check"
    assert after.headline == "Worth a look: Quiet since 10:20, which is longer than usual at this time of day."


def test_hub_offline_explains_the_silence(registry, world):
    cast, store = world
    store.write([hub(NOW - 2 * MIN, "offline")])
    with Session(registry) as s:
        st = familyview.status(s, store, cast.arthur_id, AlertSettings(), NOW)
        detail = homeview.home_detail(s, store, "home-1", AlertSettings(), NOW)
    assert st.device_problems == ["The hub is offline, so the sensors cannot be heard."]
    assert detail.hub_online is False and detail.hub_last_seen == NOW - 2 * MIN
    assert {d.device_id: d.problem for d in detail.devices} == {
        "door-front": "cannot be heard while the hub is offline", "pir-lounge": "cannot be heard while the hub is offline"}


def test_home_view_device_health(registry, world):
    _cast, store = world
    with Session(registry) as s:
        detail = homeview.home_detail(s, store, "home-1", AlertSettings(), NOW)
    assert detail.hub_online is True and [r.name for r in detail.residents] == ["Arthur Example"]
    health = {d.device_id: (d.last_seen, d.battery_percent, d.problem) for d in detail.devices}
    assert health == {"door-front": (NOW - 60 * MIN, 80.0, None), "pir-lounge": (NOW - 10 * MIN, None, None)}


def test_the_morning_the_clocks_go_forward(registry, tmp_path):
    """28 March 2027: London goes from 01:00 GMT to 02:00 BST. The day is read on the local clock
    (usually up by 08:10 BST, which is 07:10 UTC), and a bathroom trip at night is not getting up."""
    cast = seed_cast(registry)
    with Session(registry) as s, s.begin():
        s.add(HomeBaseline(home_id="home-1", learned_at=datetime(2027, 3, 28, 3, 30, tzinfo=timezone.utc),
                           learned=True, days_of_history=28, wake_median_min=7 * 60 + 30, up_by_min=8 * 60 + 10,
                           bed_median_min=22 * 60 + 30, summary={},
                           active_by_hour={str(h): 1.0 if 8 <= h < 22 else 0.0 for h in range(24)}))
    night = datetime(2027, 3, 28, 0, 40, tzinfo=timezone.utc)  # 00:40 GMT
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        # A trip to the bathroom at 06:30 BST is not getting up either.
        store.write([motion(night, "bathroom"), motion(datetime(2027, 3, 28, 5, 30, tzinfo=timezone.utc), "bathroom")]
                    + [hub(night + n * 5 * MIN, "online") for n in range(12 * 12)])
        with Session(registry) as s:
            at_0930 = familyview.status(s, store, cast.arthur_id, AlertSettings(),
                                        datetime(2027, 3, 28, 8, 30, tzinfo=timezone.utc))
        assert at_0930.level == "check" and at_0930.last_activity == datetime(2027, 3, 28, 5, 30, tzinfo=timezone.utc)
        assert at_0930.today == "No sign of getting up yet today; usually up by 08:10."
        store.write([motion(datetime(2027, 3, 28, 6, 45, tzinfo=timezone.utc)),
                     motion(datetime(2027, 3, 28, 6, 47, tzinfo=timezone.utc), "kitchen"),
                     motion(datetime(2027, 3, 28, 9, 20, tzinfo=timezone.utc), "kitchen")])
        with Session(registry) as s:
            at_1030 = familyview.status(s, store, cast.arthur_id, AlertSettings(),
                                        datetime(2027, 3, 28, 9, 30, tzinfo=timezone.utc))
        assert at_1030.level == "ok" and at_1030.device_problems == [], at_1030.headline
        assert at_1030.today == "Up and about since 07:45 (usually up by 08:10)."
    finally:
        store.close()


def test_a_late_weekend_morning_is_not_a_worry(registry, world):
    """Up by 08:10 on weekdays but 10:30 at weekends, as the nightly learning found: at 10:00 on a
    Saturday with nobody up yet the family is not worried; at 11:45 the not_up rule holds (in bed
    since the night, so its due time is the usual latest plus 45 min)."""
    cast, store = world
    saturday = datetime(2026, 11, 28, tzinfo=timezone.utc)
    with Session(registry) as s, s.begin():
        saved = s.get(HomeBaseline, "home-1")
        saved.limits = saved.limits | {"wake_p90_by_kind": [8 * 60 + 10.0, 10 * 60 + 30.0],
                                       "wake_median_by_kind": [7 * 60 + 30.0, 9 * 60 + 45.0]}
    bed = [make_reading(home_id="home-1", device_id="bed-1", device_type="bed", channel=Channel.READING,
                        ts=saturday - minutes * MIN, seq=None, room="bedroom", values={"occupancy": minutes == 90})
           for minutes in (600, 90)]  # out of bed on Friday afternoon, in at 22:30
    store.write(bed + [hub(saturday + n * 5 * MIN, "online") for n in range(12 * 12)])
    with Session(registry) as s:
        s.add(Device(home_id="home-1", device_id="bed-1", type="bed", room="bedroom", installed_at=NOW))
        s.commit()
        at_ten = familyview.status(s, store, cast.arthur_id, AlertSettings(), saturday + 10 * 60 * MIN)
        late = familyview.status(s, store, cast.arthur_id, AlertSettings(), saturday + (11 * 60 + 20) * MIN)
        weekday = familyview.status(s, store, cast.arthur_id, AlertSettings(), NOW)
    assert at_ten.today == "Not up yet; usually up by 10:30 at weekends." and "getting up" not in at_ten.headline
    assert late.today == "No sign of getting up yet today; usually up by 10:30 at weekends."
    assert weekday.today == "Up and about since 07:45 (usually up by 08:10 on weekdays)."
