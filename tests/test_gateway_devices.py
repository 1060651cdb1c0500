"""Real devices at the gateway: button action names, a plug's mains voltage, implausible
``last_seen`` times, and the heartbeat that reports them, down to real brokers."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from support import Publisher, wait_until
from test_gateway import HOME, HOME_PASSWORD, config_dict, ingest, iso, local, ms, platform, store  # noqa: F401
from test_gateway_clock import date_server

from tecwatch.devices import DEVICE_TYPES, Reading, parse_message
from tecwatch.devices.catalogue import TEXT_MAX_LENGTH
from tecwatch.devices.validation import Limits
from tecwatch.gateway.bridge import Outcome, ZigbeeBridge
from tecwatch.gateway.clock import ClockCheck, KernelClock
from tecwatch.gateway.config import ConfiguredDevice, GatewayConfig
from tecwatch.gateway.outbox import Outbox
from tecwatch.gateway.runner import Gateway
from tecwatch.gateway.zigbee import DEFAULT_ACTIONS, Skipped, Translated, action_rules, translate

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

# What real Zigbee2MQTT buttons and SOS pendants send as `action`.
REAL_ACTIONS = [
    "single", "single_left", "single_right", "single_both", "double", "double_left", "double_right",
    "double_both", "triple", "quadruple", "many", "hold", "hold_left", "hold_right", "long",
    "button_1_single", "toggle", "on", "emergency", "panic", "sos", "SOS", "Single_Right",
]


# -- actions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("action", REAL_ACTIONS)
def test_every_real_action_from_a_pendant_is_a_press(action):
    got = translate("pendant", {"action": action, "battery": 90, "linkquality": 60}, NOW)
    assert isinstance(got, Translated), got
    assert got.values == {"action": "press", "battery": 90.0, "linkquality": 60.0}
    assert got.unknown_action is None


@pytest.mark.parametrize("action", ["off", "cancel", "disarm", "release_cancel", "OFF"])
def test_cancel_words_cancel_on_a_pendant(action):
    got = translate("pendant", {"action": action}, NOW)
    assert isinstance(got, Translated) and got.values == {"action": "cancel"}


EXPLICIT = action_rules("pendant", help_actions=["single*", "double*", "sos"])


@pytest.mark.parametrize(("action", "expected"), [
    ("single", "press"), ("single_right", "press"), ("SINGLE_BOTH", "press"), ("double_left", "press"),
    ("sos", "press"), ("off", "cancel"), ("cancel", "cancel"),
    *[(a, None) for a in ("triple", "quadruple", "many", "hold", "hold_left", "long", "button_1_single",
                          "toggle", "on", "emergency", "panic", "singl")],
])
def test_with_explicit_help_actions_any_other_action_is_unknown(action, expected):
    got = translate("pendant", {"action": action, "battery": 77}, NOW, EXPLICIT)
    assert isinstance(got, Translated), got
    if expected is None:
        assert got.values == {"battery": 77.0}, "forwarded as a check-in, not a press"
        assert got.unknown_action == action
    else:
        assert got.values == {"action": expected, "battery": 77.0} and got.unknown_action is None


def test_an_unknown_action_alone_is_skipped_but_still_reported():
    got = translate("pendant", {"action": "toggle"}, NOW, EXPLICIT)
    assert isinstance(got, Skipped) and got.unknown_action == "toggle"


@pytest.mark.parametrize(("state", "expected", "unknown"), [
    ({"action": "fall"}, {"action": "fall"}, None),
    ({"action": "Fall_Detected"}, {"action": "fall"}, None),
    ({"fall": True}, {"action": "fall"}, None),
    ({"fall": False, "battery": 50}, {"battery": 50.0}, None),
    ({"action": "off"}, {"action": "cancel"}, None),
    ({"action": "vibration", "battery": 50}, {"battery": 50.0}, "vibration"),
    ({"action": 3, "battery": 50}, {"battery": 50.0}, "3"),
])
def test_fall_detector_defaults(state, expected, unknown):
    got = translate("fall_detector", state, NOW)
    assert isinstance(got, Translated) and got.values == expected and got.unknown_action == unknown


def test_every_type_with_an_action_has_default_rules():
    with_action = {n for n, dt in DEVICE_TYPES.items() if any(f.name == "action" for f in dt.fields)}
    assert with_action == set(DEFAULT_ACTIONS)


def test_a_help_word_in_the_config_is_no_longer_a_default_cancel_word():
    rules = action_rules("pendant", help_actions=["on", "off"])
    assert rules.classify("off") == "help" and rules.classify("cancel") == "cancel"
    rules = action_rules("pendant", help_actions=["*"], cancel_actions=["double"])
    assert rules.classify("off") == "help" and rules.classify("double") == "cancel"


def device(**extra) -> dict:
    return {"friendly_name": "Pendant", "device_id": "pendant-1", "type": "pendant", **extra}


def test_action_config_is_checked():
    d = ConfiguredDevice.model_validate(device(help_actions=["Single*", "SOS"], cancel_actions=["Off"]))
    assert d.help_actions == ["single*", "sos"] and d.cancel_actions == ["off"]
    for bad, message in [
        (device(type="motion", help_actions=["single"]), "has no button actions"),
        (device(help_actions=[]), "at least 1 item"),
        (device(help_actions=["do*ble"]), "should match pattern"),
        (device(help_actions=["single left"]), "should match pattern"),
        (device(cancel_actions=["*"]), "every press a cancel"),
        (device(help_actions=["sos", "off"], cancel_actions=["OFF"]), "off cannot be both"),
    ]:
        with pytest.raises(ValueError, match=message):
            ConfiguredDevice.model_validate(bad)


# -- a plug's mains voltage ------------------------------------------------------------------

def test_a_plugs_voltage_is_mains_not_battery():
    got = translate("plug", {"power": 12.5, "voltage": 241, "current": "0.06", "energy": 3.2, "state": "ON"}, NOW)
    assert isinstance(got, Translated)
    assert got.values == {"power": 12.5, "mains_voltage": 241.0, "current": 0.06, "energy": 3.2, "state": "ON"}
    assert "voltage" not in got.values
    body = {"type": "plug", "ts": NOW.isoformat(), "seq": 1, **got.values}
    parsed = parse_message("tec/v1/h/plug-1/reading", json.dumps(body).encode(), NOW, Limits())
    assert isinstance(parsed, Reading) and parsed.values["mains_voltage"] == 241.0
    # A glitch is dropped, and a battery sensor's voltage is still its battery's.
    assert translate("plug", {"power": 1, "voltage": 65535}, NOW).values == {"power": 1.0}
    assert translate("door", {"contact": True, "voltage": 2995}, NOW).values == {"contact": True, "voltage": 2995.0}


# -- last_seen -------------------------------------------------------------------------------

@pytest.mark.parametrize(("last_seen", "used"), [
    ((NOW - timedelta(hours=5)).isoformat(), True),  # queued on the hub while the gateway was down
    ((NOW - timedelta(days=6)).isoformat(), True),
    ((NOW + timedelta(seconds=4)).isoformat(), True),
    (int((NOW - timedelta(minutes=1)).timestamp() * 1000), True),
    ((NOW + timedelta(seconds=30)).isoformat(), False),
    ("2099-01-01T00:00:00Z", False),  # far future
    ("1970-01-01T00:00:05Z", False),  # a hub that booted without a real-time clock
    (5000, False),  # the same as epoch milliseconds
    ((NOW - timedelta(days=366)).isoformat(), False),  # a year old
    ((NOW - timedelta(days=8)).isoformat(), False),
    ("2026-12-02T08:59:58", False),  # no offset
    ("soon", False),
    (1e20, False),  # beyond what a datetime holds
])
def test_an_implausible_last_seen_gives_way_to_the_gateway_clock(last_seen, used):
    got = translate("motion", {"occupancy": True, "last_seen": last_seen}, NOW)
    assert isinstance(got, Translated)
    if used:
        assert got.ts != NOW and got.bad_last_seen is None
    else:
        assert got.ts == NOW and "last_seen" in got.bad_last_seen


# -- the bridge: logged once per device, counted, never silent --------------------------------

def gateway_config(tmp_path: Path, devices: list[dict], **extra) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "home_id": "home-1", "data_dir": str(tmp_path / "gw"),
        "platform": {"host": "127.0.0.1", "port": 1, "tls": False, "username": "home-1"},
        "devices": devices, **extra,
    })


DEVICES = [
    device(),
    {"friendly_name": "Remote", "device_id": "remote-1", "type": "pendant", "help_actions": ["sos"]},
    {"friendly_name": "Hall motion", "device_id": "pir-hall", "type": "motion"},
    {"friendly_name": "Front door", "device_id": "door-front", "type": "door"},
]


@pytest.fixture
def bridge(tmp_path) -> Iterator[tuple[ZigbeeBridge, Outbox]]:
    outbox = Outbox(tmp_path / "outbox.db")
    yield ZigbeeBridge(gateway_config(tmp_path, DEVICES), outbox, clock=lambda: NOW), outbox
    outbox.close()


def payloads(outbox: Outbox) -> list[dict]:
    """In the order they were queued (the outbox hands out alarms first)."""
    return sorted((json.loads(q.payload) for q in outbox.peek(100)), key=lambda p: p["seq"])


def test_unknown_actions_are_logged_once_per_device_counted_and_forwarded(bridge, caplog):
    b, outbox = bridge
    with caplog.at_level(logging.DEBUG, logger="tecwatch.gateway.bridge"):
        for state in ({"action": "toggle", "battery": 80}, {"action": "hold"}, {"action": "sos"},
                      {"action": "single_right"}):
            b.handle("zigbee2mqtt/Remote", json.dumps(state).encode())
        b.handle("zigbee2mqtt/Pendant", json.dumps({"action": "single_right"}).encode())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "remote-1" in warnings[0] and "'toggle'" in warnings[0]
    assert b.problems()["unknown_actions"] == 3
    assert b.status_values()["unknown_actions"] == 3.0
    sent = payloads(outbox)
    assert [p.get("action") for p in sent] == [None, "press", "press"]  # the check-in, sos, the pendant
    assert sent[0]["battery"] == 80.0


def test_an_implausible_last_seen_is_logged_once_per_device_and_counted(bridge, caplog):
    b, outbox = bridge
    with caplog.at_level(logging.WARNING, logger="tecwatch.gateway.bridge"):
        for last_seen in ("1970-01-01T00:00:00.001Z", "2099-01-01T00:00:00Z"):
            assert b.handle("zigbee2mqtt/Hall motion", json.dumps(
                {"occupancy": True, "last_seen": last_seen}).encode()) is Outcome.QUEUED
    assert len([r for r in caplog.records if "pir-hall" in r.getMessage()]) == 1
    assert b.problems()["bad_last_seen"] == 2
    assert [p["ts"] for p in payloads(outbox)] == [NOW.isoformat(timespec="milliseconds")] * 2


def test_offline_device_ids_fit_the_text_field(tmp_path):
    many = [{"friendly_name": f"Sensor {i}", "device_id": f"a-rather-long-sensor-id-{i:03d}", "type": "motion"}
            for i in range(60)]
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        b = ZigbeeBridge(gateway_config(tmp_path, many), outbox, clock=lambda: NOW)
        for d in many:
            b.handle(f"zigbee2mqtt/{d['friendly_name']}/availability", b'{"state":"offline"}')
        values = b.status_values()
    finally:
        outbox.close()
    text = values["offline_devices"]
    assert values["devices_offline"] == 60.0 and len(text) <= TEXT_MAX_LENGTH
    shown, rest = text.split(",")[:-1], text.split(",")[-1]
    assert shown == sorted(d["device_id"] for d in many)[: len(shown)]
    assert rest == f"+{60 - len(shown)} more"


def test_the_heartbeat_names_offline_devices_and_the_platform_accepts_it(tmp_path):
    gw = Gateway(gateway_config(tmp_path, DEVICES))
    gw.clock = ClockCheck(None, kernel=lambda: KernelClock(synced=True, offset_s=-0.0021, error_s=0.01))
    try:
        body = json.loads(gw._status_payload("online"))
        assert body["offline_devices"] == "" and body["devices_offline"] == 0.0
        for name in ("Front door", "Hall motion"):
            gw.bridge.handle(f"zigbee2mqtt/{name}/availability", b"offline")
        gw.bridge.handle("zigbee2mqtt/Remote", b'{"action":"toggle"}')
        gw.bridge.handle("zigbee2mqtt/Hall motion", b'{"occupancy":true,"last_seen":"1970-01-01T00:00:00Z"}')
        payload = gw._status_payload("online")
    finally:
        gw.outbox.close()
    body = json.loads(payload)
    assert body["offline_devices"] == "door-front,pir-hall" and body["devices_offline"] == 2.0
    assert body["unknown_actions"] == 1.0 and body["bad_last_seen"] == 1.0
    assert body["clock_synced"] is True and body["clock_offset_s"] == -0.0021
    parsed = parse_message("tec/v1/home-1/gateway/status", payload, datetime.now(UTC), Limits())
    assert isinstance(parsed, Reading), parsed
    assert parsed.values["offline_devices"] == "door-front,pir-hall"
    assert {"unknown_actions", "bad_last_seen", "clock_offset_s", "clock_synced"} <= set(parsed.values)


@pytest.mark.parametrize(("text", "accepted"), [
    ("pir-hall,door-front", True), ("", True), ("x" * TEXT_MAX_LENGTH, True),
    ("x" * (TEXT_MAX_LENGTH + 1), False), ("pir\\hall", False), ("pir\nhall", False), ("pir\x00", False),
])
def test_a_text_field_is_free_text_within_limits(text, accepted):
    body = {"ts": NOW.isoformat(), "seq": 1, "status": "online", "offline_devices": text}
    got = parse_message("tec/v1/h/gateway/status", json.dumps(body).encode(), NOW, Limits())
    assert isinstance(got, Reading) is accepted, got
    if not accepted:
        assert got.reason == "invalid_value" and "offline_devices" in got.detail


# -- end to end: the hub's broker -> gateway -> platform broker -> ingest --------------------

def test_a_real_two_button_remote_raises_a_press_and_the_heartbeat_says_what_is_wrong(
        tmp_path, local, platform, ingest, store):  # noqa: F811 - test_gateway's fixtures
    """`single_right` from a pendant arrives on the platform broker as a press; an unmapped
    action on a remote with its own help_actions is a check-in, logged and counted; the
    heartbeat names the offline devices and carries the clock offset measured against a web
    server whose clock is an hour behind."""
    seen: list[tuple[str, dict]] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:6]}")
    watcher.username_pw_set(HOME, HOME_PASSWORD)
    watcher.on_connect = lambda cl, *_: cl.subscribe(f"tec/v1/{HOME}/#", qos=1)
    watcher.on_message = lambda _c, _u, m: seen.append((m.topic, json.loads(m.payload)))
    watcher.connect(platform.host, platform.port)
    watcher.loop_start()
    z2m = Publisher(local.host, local.port, "3.1.1")

    def on(topic: str) -> list[dict]:
        return [p for t, p in list(seen) if t == topic]

    with date_server(-3600.0) as (url, answered):
        cfg = config_dict(tmp_path, local, platform, clock_check_url=url)
        cfg["devices"].append({"friendly_name": "Panic remote", "device_id": "remote-1", "type": "pendant",
                               "help_actions": ["sos"]})
        gateway = Gateway(GatewayConfig.model_validate(cfg))
        gateway.start()
        try:
            assert gateway.subscribed.wait(10)
            ts = ms(datetime.now(UTC) - timedelta(minutes=1))
            z2m.publish((f"zigbee2mqtt/{name}", p if isinstance(p, str) else json.dumps(p)) for name, p in [
                ("Pendant", {"action": "single_right", "battery": 88, "linkquality": 40, "last_seen": iso(ts)}),
                ("Pendant", {"action": "", "battery": 88, "linkquality": 40, "last_seen": iso(ts)}),
                ("Panic remote", {"action": "toggle", "battery": 70, "last_seen": iso(ts)}),
                ("Front door/availability", "offline"),
                ("Kitchen leak/availability", '{"state":"offline"}'),
            ])
            z2m.wait_all_published()
            wait_until(lambda: on(f"tec/v1/{HOME}/pendant-1/event") and on(f"tec/v1/{HOME}/remote-1/event"),
                       15, "the press and the remote's check-in on the platform broker")
            [press] = on(f"tec/v1/{HOME}/pendant-1/event")  # once: the empty action after it is not a press
            assert {k: v for k, v in press.items() if k != "seq"} == {
                "type": "pendant", "ts": ts.isoformat(timespec="milliseconds"),
                "action": "press", "battery": 88.0, "linkquality": 40.0}
            assert on(f"tec/v1/{HOME}/remote-1/event")[0]["battery"] == 70.0
            assert "action" not in on(f"tec/v1/{HOME}/remote-1/event")[0]

            def beat() -> dict | None:
                beats = [p for p in on(f"tec/v1/{HOME}/gateway/status") if p.get("devices_offline") == 2.0]
                return beats[-1] if beats else None

            wait_until(beat, 15, "a heartbeat with both devices offline")
            hb = beat()
            assert hb["offline_devices"] == "door-front,leak-kitchen"
            assert hb["unknown_actions"] == 1.0 and hb["bad_last_seen"] == 0.0
            assert hb["clock_offset_s"] == pytest.approx(3600.0, abs=1.5) and len(answered) == 1
            parsed = parse_message(f"tec/v1/{HOME}/gateway/status", json.dumps(hb).encode(), datetime.now(UTC),
                                   Limits())
            assert isinstance(parsed, Reading) and parsed.values["offline_devices"] == "door-front,leak-kitchen"

            wait_until(lambda: store.readings(HOME, ts, ts + timedelta(seconds=1), device_id="pendant-1"), 15,
                       "the press in the store")
            stored = store.readings(HOME, ts, ts + timedelta(seconds=1), device_id="pendant-1")[0]
            assert stored.alarm and stored.values["action"] == "press"
            assert ingest.stats().rejected == {}
        finally:
            z2m.close()
            watcher.disconnect()
            watcher.loop_stop()
            gateway.stop()
