"""Simulated homes over real services: live to the platform broker, live as Zigbee2MQTT through
a real gateway, and backfill straight into both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tecwatch.gateway.config import GatewayConfig
from tecwatch.gateway.runner import Gateway
from tecwatch.ingest.alarms import LoggingAlarmSink
from tecwatch.services import Ingest
from tecwatch.localservices import Mosquitto
from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home
from tecwatch.simulators.live import run_live
from tecwatch.simulators.routine import DeviceEvent, simulate_day
from tecwatch.simulators.scenarios import parse_scenario

from support import wait_until

SEED = 7


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path / "platform") as m:
        yield m


def ingest_for(broker: Mosquitto, store, tmp_path, sink=None) -> Ingest:
    settings = Settings(
        broker=BrokerSettings(mode="external", host=broker.host, port=broker.port),
        registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"),
        ingest=IngestSettings(client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_s=0.05),
    )
    worker = Ingest(settings, alarm_sink=sink, store=store)
    worker.start()
    assert worker.mqtt.subscribed.wait(10)
    return worker


def expected_events(homes, start: datetime, end: datetime, scenarios=(), heartbeat_s=60) -> list[DeviceEvent]:
    """What the simulator should have published between ``start`` and ``end``."""
    tz = ZoneInfo(homes[0].tz)
    first = start.astimezone(tz).date()
    out = []
    for n in range(1, (end.astimezone(tz).date() - first).days + 2):
        for home in homes:
            events, _ = simulate_day(home, n, first + timedelta(days=n - 1), SEED, scenarios, heartbeat_s)
            out += [e for e in events if start <= e.ts <= end]
    return out


def at_spec(when: datetime, start: datetime, tz: str) -> str:
    """``@dNTHH:MM`` for a moment, counting days from the simulation's first day."""
    z = ZoneInfo(tz)
    day = (when.astimezone(z).date() - start.astimezone(z).date()).days + 1
    return f"@d{day}T{when.astimezone(z):%H:%M}"


def test_live_platform_feed_is_stored_event_for_event(tmp_path, broker, store):
    """Three hours of two homes replayed at 1800x (6 s), then real time: every simulated event
    is stored with its own time, and the injected pendant press reaches the alert engine."""
    sink = LoggingAlarmSink()
    worker = ingest_for(broker, store, tmp_path, sink)
    homes = [make_home(SEED, i) for i in (1, 2)]
    now = datetime.now(timezone.utc)
    start = now - timedelta(hours=3)
    press = now - timedelta(hours=1, minutes=30)
    scenarios = [parse_scenario("pendant_press:home-2" + at_spec(press, start, homes[0].tz))]
    stop = threading.Event()
    lines: list[str] = []
    try:
        result = None

        def run():
            nonlocal result
            result = run_live(BrokerSettings(mode="external", host=broker.host, port=broker.port), homes,
                              seed=SEED, stop=stop, scenarios=scenarios, speed=1800, start=start,
                              truth_path=tmp_path / "truth.json", out=lines.append)

        t = threading.Thread(target=run)
        began = time.monotonic()
        t.start()
        wait_until(lambda: any(r.device_id == "pendant-1" for r in sink.recent()), 20, "the pendant alarm")
        # 3 h at 1800x is 6 s: by then the clock has caught up with real time.
        wait_until(lambda: time.monotonic() - began > 6.5, 10, "the clock to catch up")
        end = datetime.now(timezone.utc) - timedelta(seconds=2)
        stop.set()
        t.join(timeout=20)
        expected = expected_events(homes, start, end, scenarios)
        keys = {(e.home_id, e.device_id, e.ts) for e in expected}
        assert len(keys) == len(expected), "no two events of one device share a millisecond"
        wait_until(lambda: worker.stats().written >= len(expected), 20, f"{len(expected)} readings written")

        def stored():
            return {(r.home_id, r.device_id, r.ts): r.values for h in homes
                    for r in store.readings(h.home_id, start, end, limit=100_000)}

        got = stored()
        assert set(got) == keys
        assert all(got[(e.home_id, e.device_id, e.ts)] == e.values for e in expected)
        assert worker.stats().rejected == {}
        [alarm] = [a for a in sink.recent() if a.device_id == "pendant-1"]
        truth = json.loads((tmp_path / "truth.json").read_text())
        assert [(g["kind"], g["home_id"]) for g in truth] == [("pendant_press", "home-2")]
        assert alarm.home_id == "home-2" and alarm.ts.isoformat() == truth[0]["start"]
        assert any("scenario pendant_press in home-2" in line for line in lines)
        assert result is not None and result.events >= len(expected)
    finally:
        stop.set()
        worker.stop()


def test_caught_up_once_every_past_event_is_out(broker):
    """A replay its publisher cannot keep up with (here a speed no machine reaches) is caught up
    once it publishes events as they happen, every earlier event out before, not as soon as its
    clock reaches real time."""
    homes = [make_home(SEED, i) for i in (1, 2)]
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    stop, caught_up = threading.Event(), threading.Event()
    lines: list[str] = []
    t = threading.Thread(target=run_live, args=(BrokerSettings(mode="external", host=broker.host, port=broker.port),
                                                homes), kwargs=dict(
        seed=SEED, stop=stop, speed=1e9, start=start, heartbeat_s=5, out=lines.append, on_caught_up=caught_up.set))
    t.start()
    try:
        assert caught_up.wait(30), lines
        at = datetime.now(timezone.utc)
    finally:
        stop.set()
        t.join(timeout=20)
    [said] = [line for line in lines if line.startswith("caught up with real time after")]
    published = int(said.split()[6])
    replayed = expected_events(homes, start, at - timedelta(seconds=1), heartbeat_s=5)
    assert published >= len(replayed) > 1000, (published, len(replayed))


def test_zigbee2mqtt_feed_through_a_real_gateway_is_stored(tmp_path, store):
    """The simulator as Zigbee2MQTT on a hub's broker, the real gateway forwarding to the
    platform broker, ingest storing: every device event arrives with its time and values."""
    home = make_home(SEED, 3)
    now = datetime.now(timezone.utc)
    start = now - timedelta(hours=2)
    with Mosquitto(tmp_path / "local") as local, Mosquitto(tmp_path / "platform") as platform:
        worker = ingest_for(platform, store, tmp_path)
        config = GatewayConfig.model_validate({
            "home_id": home.home_id, "data_dir": str(tmp_path / "gw"), "heartbeat_s": 5,
            "local": {"host": local.host, "port": local.port},
            "platform": {"host": platform.host, "port": platform.port, "tls": False, "username": "gw"},
            "devices": [{"friendly_name": d.friendly_name, "device_id": d.device_id, "type": d.device_type,
                         "room": d.room} for d in home.devices],
        })
        gateway = Gateway(config)
        gateway.start()
        assert gateway.subscribed.wait(10)
        stop = threading.Event()
        try:
            end = now - timedelta(minutes=1)
            t = threading.Thread(target=run_live, kwargs=dict(
                broker=BrokerSettings(mode="external", host=local.host, port=local.port), homes=[home], seed=SEED,
                stop=stop, target="zigbee2mqtt", speed=3600, start=start, out=lambda s: None))
            t.start()
            expected = [e for e in expected_events([home], start, end) if e.device_id != "gateway"]
            assert expected, "two hours of a home has events"

            def stored():
                return {(r.device_id, r.ts): r.values for r in store.readings(home.home_id, start, end, limit=100_000)
                        if r.device_id != "gateway"}

            wait_until(lambda: len(stored()) >= len(expected), 30, f"{len(expected)} forwarded readings")
            stop.set()
            t.join(timeout=20)
            got = stored()
            assert set(got) == {(e.device_id, e.ts) for e in expected}
            for e in expected:
                want = {k: v for k, v in e.values.items() if k != "battery"}
                have = {k: v for k, v in got[(e.device_id, e.ts)].items() if k not in ("battery", "voltage", "linkquality", "state")}
                assert have == want, (e.device_id, e.ts)
                if "battery" in e.values:  # devices report whole percent
                    assert got[(e.device_id, e.ts)]["battery"] == round(float(e.values["battery"]))
            counts = gateway.bridge.counts()
            assert counts["unknown_device"] == counts["unparseable"] == 0
        finally:
            stop.set()
            gateway.stop()
            worker.stop()


def test_backfill_writes_every_simulated_event_into_the_store(store):
    homes = [make_home(SEED, i) for i in (1, 2, 3)]
    scenarios = [parse_scenario("flood:home-2@d2T14:00"), parse_scenario("hub_offline:home-3@d1T10:00+2h")]
    # Half past midnight in the homes' summer time, still the 15th in UTC: the three days before
    # their today are 13-15 July.
    now = datetime(2026, 7, 15, 23, 30, tzinfo=timezone.utc)
    first = date(2026, 7, 13)
    result = backfill(store, homes, days=3, seed=SEED, scenarios=scenarios, heartbeat_s=300, progress=False,
                      now=lambda: now)
    assert sorted((t.kind, t.home_id) for t in result.truths) == [("flood", "home-2"), ("hub_offline", "home-3")]
    total = 0
    for home in homes:
        events = [e for n in (1, 2, 3) for e in simulate_day(home, n, first + timedelta(days=n - 1), SEED,
                                                             scenarios, 300)[0]]
        total += len(events)
        lo, hi = events[0].ts, events[-1].ts + timedelta(milliseconds=1)
        got = store.readings(home.home_id, lo, hi, limit=1_000_000)
        assert {(r.device_id, r.ts) for r in got} == {(e.device_id, e.ts) for e in events}
        seqs = [r.seq for r in sorted(got, key=lambda r: (r.ts, r.seq))]
        assert len(set(seqs)) == len(seqs)
    assert result.readings == total
    flood = next(t for t in result.truths if t.kind == "flood")
    leak = [r for r in store.readings("home-2", flood.start, flood.start + timedelta(milliseconds=1)) if r.alarm]
    assert [r.values["water_leak"] for r in leak] == [True]
    offline = next(t for t in result.truths if t.kind == "hub_offline")
    quiet = store.readings("home-3", offline.start + timedelta(milliseconds=1), offline.end - timedelta(milliseconds=1))
    assert quiet == [], "nothing from a home whose hub is off"


def test_backfill_cli_shows_progress_and_writes_ground_truth(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
        "TECWATCH_STORE__SQLITE_PATH": str(tmp_path / "readings.db"),
        "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db",
    }
    run = subprocess.run(
        [sys.executable, "-m", "tecwatch", "backfill", "--homes", "4", "--days", "2", "--seed", "3",
         "--scenario", "pendant_press:home-4@d2T11:00", "--truth", str(tmp_path / "truth.json")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "backfill" in run.stderr and "8/8" in run.stderr  # the progress bar, home-days done
    assert "readings for 4 homes x 2 days to sqlite" in run.stdout
    assert "pendant_press in home-4" in run.stdout
    assert json.loads((tmp_path / "truth.json").read_text())[0]["expected_alert"] == "pendant"
    bad = subprocess.run([sys.executable, "-m", "tecwatch", "backfill", "--homes", "2", "--days", "2",
                          "--scenario", "fall:home-9@08:30"], env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 2 and "no home 'home-9'" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "tecwatch", "simulate", "--scenario", "tumble:home-1"],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "unknown scenario kind 'tumble'" in bad.stderr
