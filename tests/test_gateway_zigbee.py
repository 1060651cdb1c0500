"""Zigbee2MQTT payload variants -> platform values (table-driven)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tecwatch.gateway.zigbee import Skipped, Translated, availability, parse_last_seen, translate

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)

CASES = [
    # (case, device type, Zigbee2MQTT state, expected values or None if skipped)
    ("motion", "motion", {"occupancy": True, "battery": 100, "linkquality": 87}, {"occupancy": True, "battery": 100.0,
                                                                                   "linkquality": 87.0}),
    ("presence spelling", "motion", {"presence": False}, {"occupancy": False}),
    ("contact true = closed", "door", {"contact": True, "battery_low": False}, {"contact": True, "battery_low": False}),
    ("contact opened", "door", {"contact": False}, {"contact": False}),
    ("battery as numeric string", "door", {"contact": True, "battery": "87"}, {"contact": True, "battery": 87.0}),
    ("battery not a number", "door", {"contact": True, "battery": "low"}, {"contact": True}),
    ("temperature and humidity", "temperature", {"temperature": 19.4, "humidity": 52.1, "voltage": 2995},
     {"temperature": 19.4, "humidity": 52.1, "voltage": 2995.0}),
    ("temperature glitch out of range", "temperature", {"temperature": 655.35, "humidity": 40}, None),
    ("power", "plug", {"power": 2150.5, "energy": 12.3, "state": "ON"},
     {"power": 2150.5, "energy": 12.3, "state": "ON"}),
    ("water leak", "leak", {"water_leak": True, "battery": 90}, {"water_leak": True, "battery": 90.0}),
    ("smoke", "smoke", {"smoke": True, "battery_low": True}, {"smoke": True, "battery_low": True}),
    ("pendant action", "pendant", {"action": "single"}, {"action": "press"}),
    ("pendant SOS", "pendant", {"action": "emergency"}, {"action": "press"}),
    ("pendant click (legacy)", "pendant", {"click": "single"}, {"action": "press"}),
    ("pendant cancel", "pendant", {"action": "off"}, {"action": "cancel"}),
    ("empty action after a press", "pendant", {"action": "", "battery": 80}, None),
    ("null action", "pendant", {"action": None}, None),
    ("pendant battery check-in", "pendant", {"battery": 80, "linkquality": 40}, {"battery": 80.0, "linkquality": 40.0}),
    ("nothing usable", "pendant", {"linkquality": None, "update": {}}, None),
    ("fall detector", "fall_detector", {"action": "fall"}, {"action": "fall"}),
    ("fall as a flag", "fall_detector", {"fall": True}, {"action": "fall"}),
    ("null values dropped", "motion", {"occupancy": True, "battery": None, "linkquality": None}, {"occupancy": True}),
    ("extra unknown keys ignored", "motion", {"occupancy": True, "illuminance": 12, "update": {"state": "idle"},
                                              "device_temperature": 24}, {"occupancy": True}),
    ("battery-only update", "motion", {"battery": 91}, None),
    ("bool as a string", "leak", {"water_leak": "false"}, {"water_leak": False}),
]


@pytest.mark.parametrize(("case", "dtype", "state", "expected"), CASES, ids=[c[0] for c in CASES])
def test_zigbee2mqtt_states_map_to_platform_values(case, dtype, state, expected):
    got = translate(dtype, state, NOW)
    if expected is None:
        assert isinstance(got, Skipped) and got.reason, got
    else:
        assert isinstance(got, Translated), got
        assert got.values == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-25T07:59:58.123Z", datetime(2026, 11, 25, 7, 59, 58, 123000, tzinfo=timezone.utc)),
        ("2026-11-25T08:59:58+01:00", datetime(2026, 11, 25, 7, 59, 58, tzinfo=timezone.utc)),
        (1795593598123, datetime(2026, 11, 25, 7, 59, 58, 123000, tzinfo=timezone.utc)),
        ("2026-11-25T07:59:58", None),  # no offset: ambiguous, fall back to the gateway clock
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_last_seen_formats(raw, expected):
    assert parse_last_seen(raw) == expected


def test_event_time_comes_from_last_seen_when_present():
    got = translate("motion", {"occupancy": True, "last_seen": "2026-11-25T07:59:58Z"}, NOW)
    assert isinstance(got, Translated) and got.ts == datetime(2026, 11, 25, 7, 59, 58, tzinfo=timezone.utc)
    got = translate("motion", {"occupancy": True}, NOW)
    assert isinstance(got, Translated) and got.ts == NOW


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"online", True), (b"offline", False), (b'{"state":"online"}', True), (b'{"state":"offline"}', False),
     (b"garbage", None), (b'{"state":"maybe"}', None), (b"[]", None)],
)
def test_availability_legacy_and_json(payload, expected):
    assert availability(payload) is expected


def test_unknown_type_and_non_object_state_are_skipped_with_a_reason():
    assert isinstance(translate("toaster", {"on": True}, NOW), Skipped)
    assert isinstance(translate("motion", ["occupancy"], NOW), Skipped)


@pytest.mark.parametrize(("case", "dtype", "state", "expected"), [c for c in CASES if c[3] is not None],
                         ids=[c[0] for c in CASES if c[3] is not None])
def test_every_translation_is_a_valid_platform_message(case, dtype, state, expected):
    import json

    from tecwatch.devices import DEVICE_TYPES, Reading, parse_message
    from tecwatch.devices.validation import Limits

    got = translate(dtype, state, NOW)
    channel = DEVICE_TYPES[dtype].channels[0].value
    body = {"type": dtype, "ts": got.ts.isoformat(), "seq": 1, **got.values}
    parsed = parse_message(f"tec/v1/h1/d1/{channel}", json.dumps(body).encode(), NOW, Limits())
    assert isinstance(parsed, Reading), parsed
    assert parsed.values == expected
