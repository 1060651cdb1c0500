"""The TimeSeriesStore contract, run against SQLite and a real influxd alike."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tecwatch.devices import Channel, Reading, make_reading
from tecwatch.store import ActivityCount, DeviceLastSeen, StoreRejected, apply_retention
from tecwatch.store.base import count_order

UTC = timezone.utc
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
HOUR, DAY, MS = timedelta(hours=1), timedelta(days=1), timedelta(milliseconds=1)

_CHANNEL = {"pendant": Channel.EVENT, "fall_detector": Channel.EVENT, "gateway": Channel.STATUS}


def rd(
    home: str,
    device: str,
    dtype: str,
    ts: datetime,
    values: dict,
    *,
    room: str | None = None,
    seq: int | None = 1,
    channel: Channel | None = None,
) -> Reading:
    return make_reading(
        home_id=home,
        device_id=device,
        device_type=dtype,
        channel=channel or _CHANNEL.get(dtype, Channel.READING),
        ts=ts,
        seq=seq,
        room=room,
        values=values,
    )


def by_time(readings: list[Reading]) -> list[Reading]:
    return sorted(readings, key=lambda r: (r.ts, r.channel.value, r.device_id))


def value_types(readings: list[Reading]) -> list[dict[str, type]]:
    return [{k: type(v) for k, v in r.values.items()} for r in readings]


def test_empty_store_returns_empty_lists(store):
    assert store.readings("h1", FAR_PAST, FAR_FUTURE) == []
    assert store.activity_counts(FAR_PAST, FAR_FUTURE, DAY) == []
    assert store.last_seen() == []
    store.write([])  # nothing to do, no error


def test_written_readings_read_back_exactly(store):
    t = T0 + timedelta(hours=9, milliseconds=123)
    written = [
        rd("h1", "pir-1", "motion", t, {"occupancy": True, "battery": 87.5, "linkquality": 120.0},
           room="Living room, front", seq=10),
        rd("h1", "pir-2", "motion", t + 1 * MS, {"occupancy": False, "battery_low": True}, room="Bob's \"den\"", seq=11),
        rd("h1", "th-1", "temperature", t + 2 * MS, {"temperature": 21.0, "humidity": 0.0}, room="a=b c\\d", seq=12),
        rd("h1", "th-2", "temperature", t + 3 * MS, {"temperature": -5.25, "voltage": 2999.999}, room="Küche", seq=13),
        rd("h1", "plug-1", "plug", t + 4 * MS, {"power": 1234.5678901234, "energy": 1e-05, "state": "ON"}, seq=14),
        rd("h1", "plug-1", "plug", t + 5 * MS, {"power": 3.0, "state": "OFF"}, seq=2**40),
        rd("h1", "pend-1", "pendant", t + 6 * MS, {"action": "press"}, room="Hall", seq=0),
        rd("h1", "smoke-1", "smoke", t + 7 * MS, {"smoke": True, "temperature": 48.5}, room="Kitchen"),
        rd("h1", "smoke-1", "smoke", t + 8 * MS, {"smoke": False, "heat": False}, room="Kitchen",
           channel=Channel.EVENT),
        # A gateway's last will: no seq, no time of its own.
        rd("h1", "gateway", "gateway", t + 9 * MS, {"status": "offline"}, seq=None),
        rd("h1", "gateway", "gateway", t + 10 * MS, {"status": "online", "uptime_s": 3600.0, "outbox_depth": 0.0},
           seq=15),
    ]
    store.write(list(reversed(written)))
    got = store.readings("h1", T0, T0 + DAY)
    assert got == written
    assert value_types(got) == value_types(written)
    assert [r.seq for r in got] == [r.seq for r in written]
    assert [r.room for r in got][:4] == ["Living room, front", "Bob's \"den\"", "a=b c\\d", "Küche"]
    # Flags are derived from the catalogue on the way out, the same as on the way in.
    assert [(r.device_id, r.activity, r.alarm) for r in got if r.activity or r.alarm] == [
        ("pir-1", True, False), ("plug-1", True, False), ("pend-1", True, True), ("smoke-1", False, True),
        ("gateway", False, True),  # its last will: the hub went offline
    ]
    assert got[0].ts == t and got[0].ts.tzinfo is not None
    assert [r.channel for r in got[-4:]] == [Channel.READING, Channel.EVENT, Channel.STATUS, Channel.STATUS]


def test_range_start_inclusive_end_exclusive(store):
    times = [T0 - MS, T0, T0 + MS, T0 + HOUR - MS, T0 + HOUR]
    store.write([rd("h1", "pir-1", "motion", ts, {"occupancy": True}, seq=i) for i, ts in enumerate(times)])
    got = store.readings("h1", T0, T0 + HOUR)
    assert [r.ts for r in got] == [T0, T0 + MS, T0 + HOUR - MS]
    # A bound between two milliseconds: start rounds up, so T0 itself is outside.
    got = store.readings("h1", T0 + timedelta(microseconds=500), T0 + HOUR + timedelta(microseconds=1))
    assert [r.ts for r in got] == [T0 + MS, T0 + HOUR - MS, T0 + HOUR]
    assert store.readings("h1", T0 + HOUR + MS, T0 + DAY) == []


def test_device_filter_limit_and_order(store):
    # Interleave channels and devices so a per-measurement LIMIT would give the wrong answer.
    written = []
    for i in range(60):
        ts = T0 + i * timedelta(seconds=7)
        if i % 3 == 0:
            written.append(rd("h1", "pend-1", "pendant", ts, {"action": "cancel"}, seq=i))
        elif i % 3 == 1:
            written.append(rd("h1", "pir-1", "motion", ts, {"occupancy": bool(i % 2)}, seq=i))
        else:
            written.append(rd("h1", "gateway", "gateway", ts, {"status": "online"}, seq=i))
    store.write(written[::-1])
    assert store.readings("h1", T0, T0 + DAY) == written
    assert store.readings("h1", T0, T0 + DAY, limit=7) == written[:7]
    assert store.readings("h1", T0, T0 + DAY, limit=1) == written[:1]
    assert store.readings("h1", T0, T0 + DAY, limit=0) == []
    pir = [r for r in written if r.device_id == "pir-1"]
    assert store.readings("h1", T0, T0 + DAY, device_id="pir-1") == pir
    assert store.readings("h1", T0, T0 + DAY, device_id="pir-1", limit=5) == pir[:5]
    assert store.readings("h1", T0, T0 + DAY, device_id="nope") == []


def test_other_homes_not_returned(store):
    store.write([
        rd("h1", "pir-1", "motion", T0, {"occupancy": True}),
        rd("h10", "pir-1", "motion", T0, {"occupancy": True}),
        rd("h2", "pir-1", "motion", T0 + MS, {"occupancy": False}),
    ])
    assert [r.home_id for r in store.readings("h1", T0, T0 + DAY)] == ["h1"]
    assert [r.home_id for r in store.readings("h2", T0, T0 + DAY)] == ["h2"]
    assert store.readings("h3", T0, T0 + DAY) == []
    assert store.readings("h1' OR '1'='1", T0, T0 + DAY) == []  # literals are escaped
    # Every home at once (the alert engine's pass): time order, then home.
    everyone = store.readings(None, T0, T0 + DAY)
    assert [(r.home_id, r.ts) for r in everyone] == [("h1", T0), ("h10", T0), ("h2", T0 + MS)]
    assert [r.home_id for r in store.readings(None, T0, T0 + DAY, limit=2)] == ["h1", "h10"]
    assert [r.home_id for r in store.readings(None, T0 + MS, T0 + DAY)] == ["h2"]


def test_two_readings_of_a_device_in_one_millisecond_are_both_kept(store):
    """A door opened and closed within a millisecond: both are stored, told apart by seq, and a
    redelivered copy of either still replaces itself."""
    opened = rd("h1", "door-front", "door", T0 + 5 * MS, {"contact": False}, seq=41)
    closed = rd("h1", "door-front", "door", T0 + 5 * MS, {"contact": True}, seq=42)
    store.write([opened, closed])
    store.write([closed])
    got = store.readings("h1", T0, T0 + DAY)
    assert sorted((r.seq, r.values["contact"]) for r in got) == [(41, False), (42, True)]
    assert all(r.ts == T0 + 5 * MS for r in got)
    assert store.reading_counts(T0, T0 + DAY) == {"h1": 2}
    assert [c.count for c in store.activity_counts(T0, T0 + DAY)] == [1]  # the opening is activity
    assert store.last_seen() == [DeviceLastSeen("h1", "door-front", "door", T0 + 5 * MS)]


def test_rewriting_a_reading_is_idempotent(store):
    r = rd("h1", "th-1", "temperature", T0 + 5 * MS, {"temperature": 20.5, "humidity": 40.0}, room="Bedroom", seq=7)
    store.write([r])
    store.write([r, r])  # redelivered, also twice in one batch
    assert store.readings("h1", T0, T0 + DAY) == [r]
    # Same reading identity (channel, home, device, ms, seq) with new values: the last write wins.
    newer = rd("h1", "th-1", "temperature", T0 + 5 * MS, {"temperature": 22.0, "humidity": 41.5},
               room="Bedroom", seq=7)
    store.write([newer])
    assert store.readings("h1", T0, T0 + DAY) == [newer]
    # Same time on another channel is a different reading.
    ev = rd("h1", "th-1", "temperature", T0 + 5 * MS, {"temperature": 22.0}, room="Bedroom", channel=Channel.EVENT)
    store.write([ev])
    assert len(store.readings("h1", T0, T0 + DAY)) == 2


def _activity_fixture() -> list[Reading]:
    """Three homes, several rooms, four days, a mix of activity and non-activity readings."""
    out: list[Reading] = []
    seq = 0
    for home in ("h1", "h2", "h3"):
        for day in range(4):
            for hour in (7, 8, 8, 13, 22, 23):
                seq += 1
                ts = T0 + day * DAY + hour * HOUR + timedelta(minutes=seq % 60, milliseconds=seq)
                room = ("Kitchen", "Living room, front", "Bed room")[(seq + day) % 3]
                out.append(rd(home, "pir-" + room[:3], "motion", ts, {"occupancy": seq % 4 != 0}, room=room, seq=seq))
                # Not activity: temperature readings and a gateway heartbeat.
                out.append(rd(home, "th-1", "temperature", ts + MS, {"temperature": 20.0}, room="Kitchen"))
                out.append(rd(home, "gateway", "gateway", ts + 2 * MS, {"status": "online"}, seq=seq))
            # A door with no room and a pendant event (activity on the event channel).
            out.append(rd(home, "door-1", "door", T0 + day * DAY + 9 * HOUR, {"contact": False}))  # opened
            out.append(rd(home, "pend-1", "pendant", T0 + day * DAY + 9 * HOUR + MS, {"action": "press"},
                          room="Kitchen"))
    return out


def _expected_counts(readings, start, end, bucket, homes=None) -> list[ActivityCount]:
    size = bucket // MS
    c: Counter = Counter()
    for r in readings:
        if r.activity and start <= r.ts < end and (homes is None or r.home_id in homes):
            ms = (r.ts - datetime(1970, 1, 1, tzinfo=UTC)) // MS
            c[(r.home_id, r.room, ms - ms % size)] += 1
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return sorted((ActivityCount(h, room, epoch + b * MS, n) for (h, room, b), n in c.items()), key=count_order)


def test_activity_counts(store):
    data = _activity_fixture()
    store.write(data)
    start, end = T0, T0 + 4 * DAY

    hourly = store.activity_counts(start, end, HOUR)
    assert hourly == _expected_counts(data, start, end, HOUR)
    assert all(c.count > 0 for c in hourly)  # empty buckets are left out
    assert not {c.bucket_start.hour for c in hourly} & {0, 1, 2, 3, 4, 5, 6, 10, 11, 12}
    assert any(c.room is None for c in hourly)  # the door has no room

    daily = store.activity_counts(start, end, DAY)
    assert daily == _expected_counts(data, start, end, DAY)
    assert {c.bucket_start for c in daily} == {T0 + d * DAY for d in range(4)}

    # A window that starts and ends mid-day: buckets stay aligned to midnight UTC.
    mid_start, mid_end = T0 + DAY + 8 * HOUR + timedelta(minutes=30), T0 + 3 * DAY + 12 * HOUR
    assert store.activity_counts(mid_start, mid_end, DAY) == _expected_counts(data, mid_start, mid_end, DAY)

    some = store.activity_counts(start, end, DAY, home_ids=["h1", "h3"])
    assert some == _expected_counts(data, start, end, DAY, {"h1", "h3"})
    assert {c.home_id for c in some} == {"h1", "h3"}
    assert store.activity_counts(start, end, DAY, home_ids=[]) == []
    assert store.activity_counts(start, end, DAY, home_ids=["nobody"]) == []
    # Thousands of homes at once (a commissioner's report).
    many = [f"home-{i:05d}" for i in range(3000)] + ["h2"]
    assert store.activity_counts(start, end, DAY, home_ids=many) == _expected_counts(data, start, end, DAY, {"h2"})
    assert store.activity_counts(T0 + 10 * DAY, T0 + 11 * DAY, HOUR) == []


def test_last_seen(store):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=4)  # clock skew we accept
    store.write([
        rd("h1", "leak-1", "leak", T0, {"water_leak": False}, room="Bathroom"),
        rd("h1", "leak-1", "leak", T0 + HOUR, {"water_leak": True}, room="Bathroom", channel=Channel.EVENT),
        rd("h1", "pir-1", "motion", T0 + 2 * HOUR, {"occupancy": False}),
        rd("h1", "pir-1", "motion", T0 + 3 * HOUR, {"occupancy": True}),
        rd("h1", "gateway", "gateway", T0 + 4 * HOUR, {"status": "online"}, seq=40),
        rd("h1", "gateway", "gateway", T0 + 5 * HOUR, {"status": "offline"}, seq=None),  # last will
        rd("h2", "pir-1", "motion", soon, {"occupancy": True}),
        rd("h3", "plug-1", "plug", T0, {"power": 0.0}),
    ])
    expected = [
        DeviceLastSeen("h1", "gateway", "gateway", T0 + 5 * HOUR),
        DeviceLastSeen("h1", "leak-1", "leak", T0 + HOUR),
        DeviceLastSeen("h1", "pir-1", "motion", T0 + 3 * HOUR),
        DeviceLastSeen("h2", "pir-1", "motion", soon),
        DeviceLastSeen("h3", "plug-1", "plug", T0),
    ]
    assert store.last_seen() == expected
    assert store.last_seen(["h2", "h3"]) == expected[3:]
    assert store.last_seen(["h1"]) == expected[:3]
    assert store.last_seen([]) == []
    assert store.last_seen(["nobody"]) == []
    # Home ids are matched literally, whatever characters they hold.
    odd = ["a.b", "aXb", "we/ird (ü) h*me|x", "x"]
    store.write([rd(h, "pir-1", "motion", T0, {"occupancy": True}) for h in odd])
    for h in odd:
        assert [s.home_id for s in store.last_seen([h])] == [h]
        assert [c.home_id for c in store.activity_counts(T0, T0 + DAY, DAY, home_ids=[h])] == [h]


def test_values_that_cannot_be_stored_are_rejected_and_the_rest_stored(store):
    good = rd("h1", "th-1", "temperature", T0, {"temperature": 20.0})
    bad = rd("h1", "th-2", "temperature", T0, {"temperature": math.nan})
    with pytest.raises(StoreRejected) as info:
        store.write([good, bad])
    assert info.value.readings == [bad]
    assert store.readings("h1", T0, T0 + DAY) == [good]


def test_big_batch_in_one_write(store):
    kinds = [
        ("motion", {"occupancy": True, "battery": 80.0}),
        ("temperature", {"temperature": 19.5, "humidity": 55.0}),
        ("plug", {"power": 25.0, "state": "ON"}),
        ("door", {"contact": False}),
    ]
    batch = []
    for i in range(20_000):
        dtype, values = kinds[i % 4]
        batch.append(rd(f"home-{i % 20:02d}", f"{dtype}-{i % 3}", dtype, T0 + i * 250 * MS, values,
                        room=("Kitchen", "Living room, front", None)[i % 3], seq=i))
    began = time.perf_counter()
    store.write(batch)
    print(f"\n{type(store).__name__}: 20,000 readings written in {time.perf_counter() - began:.3f}s")
    home = [r for r in batch if r.home_id == "home-07"]
    assert store.readings("home-07", T0, T0 + DAY, limit=20_000) == home
    counts = store.activity_counts(T0, T0 + DAY, DAY)
    assert sum(c.count for c in counts) == sum(r.activity for r in batch)


def test_writer_and_readers_in_threads(store):
    errors: list[BaseException] = []
    done = threading.Event()

    def reader():
        try:
            while not done.is_set():
                store.readings("h1", T0, T0 + DAY)
                store.last_seen()
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for b in range(20):
            store.write([rd("h1", "pir-1", "motion", T0 + (b * 50 + i) * MS, {"occupancy": True}, seq=b * 50 + i)
                         for i in range(50)])
    finally:
        done.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(store.readings("h1", T0, T0 + DAY)) == 1000


def test_sqlite_fills_last_seen_for_a_store_written_before_it_kept_one(tmp_path):
    import sqlite3

    from tecwatch.store.sqlite import SQLiteStore

    path = tmp_path / "old.db"
    s = SQLiteStore(path)
    s.write([rd("h1", "pir-1", "motion", T0, {"occupancy": True}),
             rd("h1", "pir-1", "motion", T0 + HOUR, {"occupancy": False})])
    s.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE device_last_seen")
    s = SQLiteStore(path)
    try:
        assert s.last_seen() == [DeviceLastSeen("h1", "pir-1", "motion", T0 + HOUR)]
        s.write([rd("h1", "pir-1", "motion", T0 - HOUR, {"occupancy": True})])  # late, older
        assert s.last_seen() == [DeviceLastSeen("h1", "pir-1", "motion", T0 + HOUR)]
    finally:
        s.close()


def test_reading_counts_per_home(store):
    assert store.reading_counts(FAR_PAST, FAR_FUTURE) == {}
    store.write([
        rd("h1", "pir-1", "motion", T0, {"occupancy": True}),
        rd("h1", "pir-1", "motion", T0 + HOUR, {"occupancy": False}),
        rd("h1", "pendant-1", "pendant", T0 + HOUR, {"action": "press"}),
        rd("h1", "gateway", "gateway", T0 + DAY - MS, {"status": "online"}),
        rd("h1", "pir-1", "motion", T0 + DAY, {"occupancy": True}),  # the next day
        rd("h2", "door-1", "door", T0 - MS, {"contact": False}),  # the day before
        rd("h2", "door-1", "door", T0 + 2 * HOUR, {"contact": True}),
    ])
    # A redelivered reading replaces itself: it is not counted twice.
    store.write([rd("h1", "pir-1", "motion", T0, {"occupancy": True})])
    assert store.reading_counts(T0, T0 + DAY) == {"h1": 4, "h2": 1}
    assert store.reading_counts(T0 + DAY, T0 + 2 * DAY) == {"h1": 1}
    assert store.reading_counts(T0 - DAY, T0) == {"h2": 1}


def test_latest_readings_of_state_sensors(store):
    assert store.latest_readings(["bed"], FAR_PAST, FAR_FUTURE) == []
    store.write([
        rd("h1", "bed-1", "bed", T0, {"occupancy": True}, room="Bedroom"),
        rd("h1", "bed-1", "bed", T0 + HOUR, {"occupancy": False}, room="Bedroom"),
        rd("h1", "bed-1", "bed", T0 + DAY, {"occupancy": True}, room="Bedroom"),  # after the range
        rd("h1", "gateway", "gateway", T0 + 2 * HOUR, {"status": "online"}, seq=7),
        rd("h1", "gateway", "gateway", T0 + 3 * HOUR, {"status": "offline"}, seq=None),
        rd("h1", "pir-1", "motion", T0 + 4 * HOUR, {"occupancy": True}),  # another type
        rd("h2", "bed-1", "bed", T0 + 5 * HOUR, {"occupancy": True}),
    ])
    got = store.latest_readings(["bed", "gateway"], T0, T0 + DAY)
    assert [(r.home_id, r.device_id, r.ts, r.values, r.room) for r in got] == [
        ("h1", "bed-1", T0 + HOUR, {"occupancy": False}, "Bedroom"),
        ("h1", "gateway", T0 + 3 * HOUR, {"status": "offline"}, None),
        ("h2", "bed-1", T0 + 5 * HOUR, {"occupancy": True}, None),
    ]
    assert got[0].device_type == "bed" and got[1].channel is Channel.STATUS
    assert [r.ts for r in store.latest_readings(["bed"], T0, T0 + HOUR)] == [T0]
    assert store.latest_readings([], T0, T0 + DAY) == []


def test_retention_deletes_what_is_older_than_the_cutoff(store):
    store.write([
        rd("h1", "pir-1", "motion", T0, {"occupancy": True}),
        rd("h1", "pir-1", "motion", T0 + DAY - MS, {"occupancy": False}),
        rd("h1", "pendant-1", "pendant", T0 + HOUR, {"action": "press"}),
        rd("h1", "gateway", "gateway", T0 + 2 * HOUR, {"status": "online"}, seq=3),
        rd("h1", "pir-1", "motion", T0 + DAY, {"occupancy": True}),
        rd("h2", "plug-1", "plug", T0 + 2 * DAY, {"power": 3.5}),
    ])
    apply_retention(store, days=35, now=T0 + 36 * DAY)  # as the nightly job runs it: keep 35 days
    assert [(r.home_id, r.ts) for r in store.readings(None, FAR_PAST, FAR_FUTURE)] == [
        ("h1", T0 + DAY), ("h2", T0 + 2 * DAY)]
    # A device silent for the whole retention is forgotten too, as its readings are.
    assert [(s.device_id, s.last_ts) for s in store.last_seen()] == [("pir-1", T0 + DAY), ("plug-1", T0 + 2 * DAY)]


def test_erasing_a_home_deletes_its_readings_and_nothing_else(store):
    store.write([rd(h, d, t, T0 + i * HOUR, v) for i, (h, d, t, v) in enumerate([
        ("h1", "pir-1", "motion", {"occupancy": True}), ("h1", "pendant-1", "pendant", {"action": "press"}),
        ("h1", "gateway", "gateway", {"status": "online"}), ("h1x", "pir-1", "motion", {"occupancy": True}),
        ("h2", "pir-1", "motion", {"occupancy": True})])])
    store.delete_home("h1")
    assert store.readings("h1", FAR_PAST, FAR_FUTURE) == []
    assert sorted(r.home_id for r in store.readings(None, FAR_PAST, FAR_FUTURE)) == ["h1x", "h2"]
    assert [s.home_id for s in store.last_seen()] == ["h1x", "h2"]
    assert store.activity_counts(FAR_PAST, FAR_FUTURE, DAY, home_ids=["h1"]) == []
    store.delete_home("nobody")  # nothing to delete is no error
