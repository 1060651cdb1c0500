"""The device catalogue and payload validation (pure functions; no services needed)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tecwatch.devices import (
    DEVICE_TYPES,
    Channel,
    Limits,
    Reading,
    Rejection,
    RejectReason,
    parse_message,
)
from tecwatch.devices.catalogue import all_field_kinds, fields_of

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=timezone.utc)
TS = "2026-11-25T08:29:59.500Z"
LIMITS = Limits(max_payload_bytes=2048, max_future=timedelta(minutes=5), max_age=timedelta(days=90))


def parse(topic: str, body: dict | bytes | str) -> Reading | Rejection:
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    return parse_message(topic, raw, NOW, LIMITS)


def test_catalogue_covers_the_device_types_the_service_supports():
    assert set(DEVICE_TYPES) == {
        "motion", "door", "bed", "chair", "temperature", "plug", "leak", "smoke", "flush",
        "pendant", "fall_detector", "gateway",
    }
    alarms = {n for n, t in DEVICE_TYPES.items() if t.is_alarm_device}
    assert alarms == {"leak", "smoke", "pendant", "fall_detector", "gateway"}  # gateway: its last will


def test_each_field_name_has_one_kind_across_the_catalogue():
    # A store column (InfluxDB field) can hold one type only.
    seen: dict[str, str] = {}
    for dt in DEVICE_TYPES.values():
        for f in fields_of(dt):
            assert seen.setdefault(f.name, f.kind) == f.kind, f"{f.name} is {seen[f.name]} and {f.kind}"
    assert all_field_kinds() == seen


def test_every_condition_names_a_field_of_its_type():
    for dt in DEVICE_TYPES.values():
        names = {f.name for f in fields_of(dt)}
        for cond in dt.alarm_when + dt.activity_when:
            assert cond.field in names, (dt.name, cond.field)


def test_valid_reading_keeps_event_time_values_and_flags():
    r = parse("tec/v1/home-1/pir-1/reading",
              {"type": "motion", "ts": TS, "seq": 7, "occupancy": True, "battery": 88, "room": "kitchen"})
    assert isinstance(r, Reading)
    assert (r.home_id, r.device_id, r.device_type, r.channel) == ("home-1", "pir-1", "motion", Channel.READING)
    assert r.ts == datetime(2026, 11, 25, 8, 29, 59, 500000, tzinfo=timezone.utc)
    assert r.seq == 7 and r.room == "kitchen"
    assert r.values == {"occupancy": True, "battery": 88.0}
    assert r.activity is True and r.alarm is False


def test_offsets_are_normalised_to_utc():
    r = parse("tec/v1/h/d/reading", {"type": "door", "ts": "2026-11-25T09:29:00+01:00", "seq": 1, "contact": False})
    assert isinstance(r, Reading) and r.ts == datetime(2026, 11, 25, 8, 29, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("body", "activity"),
    [
        ({"type": "motion", "occupancy": True}, True),
        ({"type": "motion", "occupancy": False}, False),  # the sensor clearing, or a check-in
        ({"type": "door", "contact": False}, True),  # opened
        ({"type": "door", "contact": True}, False),  # closed: also what a check-in says
        ({"type": "bed", "occupancy": False}, False),  # state sensors: only a change is movement
        ({"type": "plug", "power": 2100.0}, True),
        ({"type": "plug", "power": 0.0}, False),
        ({"type": "temperature", "temperature": 19.0}, False),
    ],
)
def test_activity_is_a_sign_of_life_not_a_check_in(body, activity):
    r = parse("tec/v1/h/d/reading", {"ts": TS, "seq": 1, **body})
    assert isinstance(r, Reading) and r.activity is activity


@pytest.mark.parametrize(
    ("topic", "body", "alarm"),
    [
        ("tec/v1/h/p/event", {"type": "pendant", "ts": TS, "seq": 1, "action": "press"}, True),
        ("tec/v1/h/p/event", {"type": "pendant", "ts": TS, "seq": 1, "action": "cancel"}, False),
        ("tec/v1/h/f/event", {"type": "fall_detector", "ts": TS, "seq": 1, "action": "fall"}, True),
        ("tec/v1/h/s/reading", {"type": "smoke", "ts": TS, "seq": 1, "smoke": True}, True),
        ("tec/v1/h/s/reading", {"type": "smoke", "ts": TS, "seq": 1, "smoke": False, "heat": True}, True),
        ("tec/v1/h/s/reading", {"type": "smoke", "ts": TS, "seq": 1, "smoke": False}, False),
        ("tec/v1/h/l/event", {"type": "leak", "ts": TS, "seq": 1, "water_leak": True}, True),
        ("tec/v1/h/l/reading", {"type": "leak", "ts": TS, "seq": 1, "water_leak": False}, False),
        ("tec/v1/h/t/reading", {"type": "temperature", "ts": TS, "seq": 1, "temperature": 4.5}, False),
    ],
)
def test_alarm_detection_follows_the_catalogue(topic, body, alarm):
    r = parse(topic, body)
    assert isinstance(r, Reading), r
    assert r.alarm is alarm


def test_gateway_heartbeat_and_last_will():
    beat = parse("tec/v1/h/gateway/status", {"ts": TS, "seq": 3, "status": "online", "uptime_s": 60})
    assert isinstance(beat, Reading) and beat.values == {"status": "online", "uptime_s": 60.0}
    will = parse("tec/v1/h/gateway/status", {"status": "offline"})
    # The broker publishes a last will when the hub vanishes: arrival time is the event time.
    assert isinstance(will, Reading) and will.ts == NOW and will.seq is None


def test_event_time_is_kept_to_the_millisecond():
    r = parse("tec/v1/h/d/reading", {"type": "door", "ts": "2026-11-25T08:00:00.123456Z", "seq": 1, "contact": True})
    assert isinstance(r, Reading) and r.ts.microsecond == 123000


REJECTIONS = [
    ("not JSON", "tec/v1/h/d/reading", b"occupancy=1", RejectReason.NOT_JSON, "Invalid JSON"),
    ("invalid UTF-8", "tec/v1/h/d/reading", b"\xff\xfe\x00", RejectReason.NOT_JSON, "JSON"),
    ("JSON but not an object", "tec/v1/h/d/reading", b"[1, 2]", RejectReason.NOT_JSON, "JSON object"),
    ("oversize", "tec/v1/h/d/reading", b"{" + b" " * 4096 + b"}", RejectReason.OVERSIZE, "limit is 2048"),
    ("topic outside tec/v1", "home/h/d/reading", {}, RejectReason.BAD_TOPIC, "not under tec/v1/"),
    ("topic too deep", "tec/v1/h/d/x/reading", {}, RejectReason.BAD_TOPIC, "should be"),
    ("bad id in topic", "tec/v1/h+1/d/reading", {}, RejectReason.BAD_TOPIC, "home_id"),
    ("unknown channel", "tec/v1/h/d/telemetry", {}, RejectReason.BAD_TOPIC, "telemetry"),
    ("status off the gateway topic", "tec/v1/h/d/status", {}, RejectReason.BAD_TOPIC, "status"),
    ("no type", "tec/v1/h/d/reading", {"ts": TS, "seq": 1}, RejectReason.MISSING_TYPE, "'type'"),
    ("unknown device type", "tec/v1/h/d/reading", {"type": "toaster", "ts": TS, "seq": 1},
     RejectReason.UNKNOWN_DEVICE_TYPE, "'toaster'"),
    ("missing ts", "tec/v1/h/d/reading", {"type": "motion", "seq": 1, "occupancy": True},
     RejectReason.MISSING_TS, "'ts'"),
    ("ts without timezone", "tec/v1/h/d/reading", {"type": "motion", "ts": "2026-11-25T08:00:00", "seq": 1,
                                                    "occupancy": True}, RejectReason.INVALID_TS, "timezone"),
    ("ts not a time", "tec/v1/h/d/reading", {"type": "motion", "ts": "yesterday", "seq": 1, "occupancy": True},
     RejectReason.INVALID_TS, "ts"),
    ("ts far in the future", "tec/v1/h/d/reading", {"type": "motion", "ts": "2026-11-25T09:00:00Z", "seq": 1,
                                                     "occupancy": True}, RejectReason.TS_IN_FUTURE, "ahead"),
    ("ts too old", "tec/v1/h/d/reading", {"type": "motion", "ts": "2025-01-01T00:00:00Z", "seq": 1,
                                           "occupancy": True}, RejectReason.TS_TOO_OLD, "older than 90 days"),
    ("NaN", "tec/v1/h/d/reading", b'{"type":"temperature","ts":"' + TS.encode() + b'","seq":1,"temperature":NaN}',
     RejectReason.NON_FINITE, "temperature"),
    ("Infinity", "tec/v1/h/d/reading",
     b'{"type":"plug","ts":"' + TS.encode() + b'","seq":1,"power":Infinity}', RejectReason.NON_FINITE, "power"),
    ("wrong type: string temperature", "tec/v1/h/d/reading",
     {"type": "temperature", "ts": TS, "seq": 1, "temperature": "21.5"}, RejectReason.INVALID_VALUE,
     "temperature: Input should be a valid number"),
    ("wrong type: string bool", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": 1, "occupancy": "true"},
     RejectReason.INVALID_VALUE, "occupancy"),
    ("out of range", "tec/v1/h/d/reading", {"type": "temperature", "ts": TS, "seq": 1, "temperature": 300},
     RejectReason.INVALID_VALUE, "less than or equal to 85"),
    ("missing required value", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": 1},
     RejectReason.INVALID_VALUE, "occupancy: Field required"),
    ("no values at all", "tec/v1/h/p/event", {"type": "pendant", "ts": TS, "seq": 1},
     RejectReason.INVALID_VALUE, "must carry at least one of its values"),
    ("unknown field", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": 1, "occupancy": True, "tmp": 1},
     RejectReason.INVALID_VALUE, "tmp"),
    ("room with a backslash", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": 1, "occupancy": True,
                                                     "room": "hall\\"}, RejectReason.INVALID_VALUE, "room"),
    ("room with a newline", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": 1, "occupancy": True,
                                                   "room": "hall\nway"}, RejectReason.INVALID_VALUE, "room"),
    ("negative seq", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": -1, "occupancy": True},
     RejectReason.INVALID_VALUE, "seq"),
    ("bad choice", "tec/v1/h/p/event", {"type": "pendant", "ts": TS, "seq": 1, "action": "hold"},
     RejectReason.INVALID_VALUE, "action"),
    ("home mismatch", "tec/v1/h1/d/reading", {"type": "motion", "ts": TS, "seq": 1, "occupancy": True,
                                               "home_id": "h2"}, RejectReason.HOME_MISMATCH, "'h2'"),
    ("device mismatch", "tec/v1/h1/d/reading", {"type": "motion", "ts": TS, "seq": 1, "occupancy": True,
                                                 "device_id": "other"}, RejectReason.HOME_MISMATCH, "'other'"),
    ("alarm on the wrong channel", "tec/v1/h/p/reading", {"type": "pendant", "ts": TS, "seq": 1, "action": "press"},
     RejectReason.WRONG_CHANNEL, "event"),
    ("seq beyond 64 bits", "tec/v1/h/d/reading", {"type": "motion", "ts": TS, "seq": 2**63, "occupancy": True},
     RejectReason.INVALID_VALUE, "seq: Input should be less than or equal to 9223372036854775807"),
    ("ts before the first instant", "tec/v1/h/d/reading", {"type": "motion", "ts": "0001-01-01T00:00:00+14:00",
                                                            "seq": 1, "occupancy": True},
     RejectReason.INVALID_TS, "out of range"),
    ("ts after the last instant", "tec/v1/h/d/reading", {"type": "motion", "ts": "9999-12-31T23:59:59-14:00",
                                                          "seq": 1, "occupancy": True},
     RejectReason.INVALID_TS, "out of range"),
    ("a plug has no battery voltage", "tec/v1/h/d/reading", {"type": "plug", "ts": TS, "seq": 1, "power": 5.0,
                                                              "voltage": 241.0}, RejectReason.INVALID_VALUE, "voltage"),
    ("a reading with a wrong clock", "tec/v1/h/d/reading", {"type": "motion", "ts": "2026-11-25T08:36:00Z", "seq": 1,
                                                             "occupancy": True}, RejectReason.TS_IN_FUTURE, "ahead"),
]


WRONG_CLOCKS = [
    ("6 minutes ahead", {"ts": "2026-11-25T08:36:00Z"}, datetime(2026, 11, 25, 8, 36, tzinfo=timezone.utc)),
    ("1970", {"ts": "1970-01-01T00:00:00Z"}, datetime(1970, 1, 1, tzinfo=timezone.utc)),
    ("out of range", {"ts": "9999-12-31T23:59:59-14:00"}, None),
    ("not a time", {"ts": "yesterday"}, None),
    ("no time at all", {}, None),
]


@pytest.mark.parametrize(("case", "ts", "said"), WRONG_CLOCKS, ids=[c[0] for c in WRONG_CLOCKS])
def test_an_alarm_is_never_dropped_for_its_time(case, ts, said):
    """A hub with a wrong clock still raises its alarms: at the receive time, marked, with what
    the device said kept."""
    received = NOW + timedelta(microseconds=123456)
    for topic, body in (("tec/v1/h/pendant-1/event", {"type": "pendant", "seq": 3, "action": "press"}),
                        ("tec/v1/h/gateway/status", {"type": "gateway", "seq": 3, "status": "online"})):
        r = parse_message(topic, json.dumps(body | ts).encode(), received, Limits())
        assert isinstance(r, Reading), f"{case}: {r}"
        # A hub status without a time is a last will, which the broker sends with none of its own.
        skewed = bool(ts) or body["type"] != "gateway"
        assert (r.clock_skewed, r.device_ts, r.ts) == (skewed, said, NOW + timedelta(milliseconds=123)), case
    # Not for a retained copy: that is an old message replayed, not a live alarm.
    kept = parse_message("tec/v1/h/pendant-1/event", json.dumps({"type": "pendant", "seq": 3, "action": "press"} | ts)
                         .encode(), received, Limits(), allow_clock_skew=False)
    assert isinstance(kept, Rejection) and kept.reason.value in ("ts_in_future", "ts_too_old", "invalid_ts",
                                                                  "missing_ts")


@pytest.mark.parametrize(("case", "topic", "body", "reason", "detail"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejections_have_a_clear_reason(case, topic, body, reason, detail):
    r = parse(topic, body)
    assert isinstance(r, Rejection), f"{case}: accepted {r}"
    assert r.reason is reason, f"{case}: {r}"
    assert detail in r.detail, f"{case}: {r.detail!r}"


@settings(max_examples=400, deadline=None)
@given(topic=st.text(max_size=80), payload=st.binary(max_size=3000))
def test_any_bytes_on_any_topic_give_a_reading_or_a_rejection(topic, payload):
    r = parse_message(topic, payload, NOW, LIMITS)
    assert isinstance(r, (Reading, Rejection))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    dtype=st.sampled_from(sorted(DEVICE_TYPES)),
    extra=st.dictionaries(st.sampled_from(["ts", "seq", "occupancy", "temperature", "action", "room", "battery",
                                           "home_id", "power", "status"]), json_values, max_size=4),
)
def test_structured_garbage_never_escapes_validation(dtype, extra):
    body = {"type": dtype, "ts": TS, "seq": 1, **extra}
    r = parse("tec/v1/h/d/reading", json.dumps(body))
    assert isinstance(r, (Reading, Rejection))
    if isinstance(r, Reading):
        assert all(v is not None for v in r.values.values())
