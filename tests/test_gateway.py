"""The home gateway between two real mosquittos: the home's local broker (Zigbee2MQTT side)
and the platform broker, with ingest storing what arrives."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from pydantic import SecretStr
from support import Publisher, TecwatchProcess, make_tls, wait_until
from tecwatch.devices import Channel
from tecwatch.gateway.config import GatewayConfig, GatewayConfigError, load_config
from tecwatch.gateway.runner import Gateway
from tecwatch.services import Ingest
from tecwatch.store.sqlite import SQLiteStore

from tecwatch.localservices import Mosquitto
from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings

HOME = "home-1"
HOME_PASSWORD = "pw-for-home-1"
INGEST_PASSWORD = "pw-for-ingest"
EXAMPLE = Path(__file__).resolve().parent.parent / "gateway" / "gateway.example.toml"

DEVICES = [
    {"friendly_name": "Hall motion", "device_id": "pir-hall", "type": "motion", "room": "hall"},
    {"friendly_name": "Kitchen motion", "device_id": "pir-kitchen", "type": "motion", "room": "kitchen"},
    {"friendly_name": "Front door", "device_id": "door-front", "type": "door", "room": "hall"},
    {"friendly_name": "Lounge temperature", "device_id": "temp-lounge", "type": "temperature", "room": "lounge"},
    {"friendly_name": "Pendant", "device_id": "pendant-1", "type": "pendant"},
    {"friendly_name": "Kitchen leak", "device_id": "leak-kitchen", "type": "leak", "room": "kitchen"},
]


def ms(ts: datetime) -> datetime:
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def local(tmp_path):
    with Mosquitto(tmp_path / "local") as m:
        yield m


@pytest.fixture
def platform(tmp_path):
    passwords = tmp_path / "passwords"
    for i, (user, pw) in enumerate(((HOME, HOME_PASSWORD), ("tecwatch-ingest", INGEST_PASSWORD))):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwords), user, pw], check=True)
    with Mosquitto(tmp_path / "platform", password_file=passwords) as m:
        yield m


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "readings.db")
    yield s
    s.close()


@pytest.fixture
def ingest(platform, store, tmp_path):
    settings = Settings(
        broker=BrokerSettings(mode="external", host=platform.host, port=platform.port, password=INGEST_PASSWORD,
                              reconnect_max_s=2),
        registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"),
        ingest=IngestSettings(client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_s=0.05),
    )
    worker = Ingest(settings, store=store)
    worker.start()
    assert worker.mqtt.subscribed.wait(10)
    yield worker
    worker.stop()


def config_dict(tmp_path: Path, local: Mosquitto, platform: Mosquitto, password: str = HOME_PASSWORD, **extra) -> dict:
    return {
        "home_id": HOME,
        "data_dir": str(tmp_path / "gateway-data"),
        "heartbeat_s": 1,
        "local": {"host": local.host, "port": local.port},
        "platform": {"host": platform.host, "port": platform.port, "tls": False, "username": HOME,
                     "password": password, "keepalive_s": 5, "reconnect_max_s": 2},
        "devices": [dict(d) for d in DEVICES],
        **extra,
    }


def write_toml(path: Path, cfg: dict) -> Path:
    def value(v):
        return json.dumps(v)  # JSON strings, numbers and booleans are valid TOML

    lines = [f"{k} = {value(v)}" for k, v in cfg.items() if not isinstance(v, (dict, list))]
    for section in ("local", "platform"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {value(v)}" for k, v in cfg[section].items()]
    for d in cfg["devices"]:
        lines.append("[[devices]]")
        lines += [f"{k} = {value(v)}" for k, v in d.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def status_messages(platform: Mosquitto, seconds: float) -> list[tuple[dict, bool]]:
    """(payload, retained) of gateway status messages seen on the platform for a while."""
    got: list[tuple[dict, bool]] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:6]}")
    c.username_pw_set(HOME, HOME_PASSWORD)
    c.on_message = lambda _c, _u, m: got.append((json.loads(m.payload), bool(m.retain)))
    c.on_connect = lambda cl, *_: cl.subscribe(f"tec/v1/{HOME}/gateway/status", qos=1)
    c.connect(platform.host, platform.port)
    c.loop_start()
    time.sleep(seconds)
    c.disconnect()
    c.loop_stop()
    return got


def test_zigbee2mqtt_messages_arrive_in_the_store_as_platform_readings(tmp_path, local, platform, ingest, store):
    z2m = Publisher(local.host, local.port, "3.1.1")
    base = ms(datetime.now(UTC) - timedelta(minutes=30))
    # Retained before the gateway subscribes: replayed to it, and not a new reading.
    z2m.client.publish("zigbee2mqtt/Kitchen motion", json.dumps({"occupancy": True}), qos=1, retain=True)
    z2m.client.publish("zigbee2mqtt/bridge/state", '{"state":"online"}', qos=1, retain=True)
    gateway = Gateway(GatewayConfig.model_validate(config_dict(tmp_path, local, platform)))
    gateway.start()
    try:
        wait_until(lambda: gateway.bridge.counts()["bridge_state"] == 1, 10, "the retained bridge state")
        msgs = [
            ("Hall motion", {"occupancy": True, "battery": "87", "linkquality": 120, "last_seen": iso(base)}),
            ("Front door", {"contact": False, "battery_low": False,
                            "last_seen": int((base + timedelta(seconds=1)).timestamp() * 1000)}),
            ("Lounge temperature", {"temperature": 19.5, "humidity": None, "device_temperature": 24,
                                    "last_seen": (base + timedelta(seconds=2)).astimezone(
                                        timezone(timedelta(hours=1))).isoformat(timespec="milliseconds")}),
            ("Pendant", {"action": "single", "battery": 90, "last_seen": iso(base + timedelta(seconds=3))}),
            ("Pendant", {"action": "", "battery": 90, "last_seen": iso(base + timedelta(seconds=3))}),
            ("Kitchen leak", {"water_leak": True, "last_seen": iso(base + timedelta(seconds=4))}),
            ("Mystery plug", {"power": 12}),
            ("Front door", "not json"),
            ("Front door/availability", "offline"),
            ("Hall motion/availability", '{"state":"offline"}'),
            ("Hall motion/availability", '{"state":"online"}'),
            ("Hall motion/set", '{"occupancy_timeout": 60}'),
            ("bridge/devices", "[]"),
        ]
        z2m.publish((f"zigbee2mqtt/{name}", p if isinstance(p, str) else json.dumps(p)) for name, p in msgs)
        z2m.wait_all_published()
        end = base + timedelta(minutes=1)
        wait_until(lambda: len(store.readings(HOME, base, end)) >= 5, 20, "the five readings in the store")
        time.sleep(0.5)  # anything extra would have arrived by now
        got = {r.device_id: r for r in store.readings(HOME, base, end)}
        assert set(got) == {"pir-hall", "door-front", "temp-lounge", "pendant-1", "leak-kitchen"}
        assert got["pir-hall"].values == {"occupancy": True, "battery": 87.0, "linkquality": 120.0}
        assert got["pir-hall"].ts == base and got["pir-hall"].room == "hall"
        assert got["door-front"].values == {"contact": False, "battery_low": False}
        assert got["door-front"].ts == base + timedelta(seconds=1)
        assert got["temp-lounge"].values == {"temperature": 19.5}
        assert got["temp-lounge"].ts == base + timedelta(seconds=2)  # +01:00 offset -> UTC
        assert got["pendant-1"].values == {"action": "press", "battery": 90.0}
        assert got["pendant-1"].channel is Channel.EVENT and got["pendant-1"].alarm
        assert got["leak-kitchen"].channel is Channel.EVENT and got["leak-kitchen"].alarm
        assert got["leak-kitchen"].room == "kitchen"
        seqs = [got[d].seq for d in ("pir-hall", "door-front", "temp-lounge", "pendant-1", "leak-kitchen")]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert ingest.stats().rejected == {}

        counts = gateway.bridge.counts()
        assert counts["queued"] == 5 and counts["skipped"] == 1  # the empty action after the press
        assert counts["unknown_device"] == 1 and counts["unparseable"] == 1
        assert counts["retained_replay"] == 1 and counts["availability"] == 3 and counts["ignored"] == 2
        assert gateway.bridge.offline_devices() == ["door-front"]
        wait_until(lambda: gateway.outbox.depth() == 0, 10, "the outbox to empty")

        statuses = status_messages(platform, 1.5)
        retained = [p for p, r in statuses if r]
        assert retained and retained[0]["status"] == "online"
        assert retained[0]["zigbee"] == "online" and retained[0]["devices_offline"] == 1.0
        assert any(not r for _, r in statuses), "heartbeats keep coming"
    finally:
        gateway.stop()
        z2m.close()
    # A clean stop says so: the retained status is now "offline".
    assert [p["status"] for p, r in status_messages(platform, 0.5) if r] == ["offline"]


def test_the_platform_refuses_a_gateway_with_the_wrong_password(tmp_path, local, platform, caplog):
    gateway = Gateway(GatewayConfig.model_validate(config_dict(tmp_path, local, platform, password="wrong")))
    gateway.start()
    assert gateway.subscribed.wait(10)
    z2m = Publisher(local.host, local.port, "3.1.1")
    try:
        z2m.publish([("zigbee2mqtt/Pendant", json.dumps({"action": "single"}))])
        z2m.wait_all_published()
        wait_until(lambda: gateway.bridge.counts()["queued"] == 1, 10, "the press to be queued")
        wait_until(lambda: "refused the connection" in caplog.text, 10, "a refusal in the log")
        time.sleep(0.5)
        assert gateway.outbox.depth() == 1, "kept for when the credentials are fixed"
        assert not gateway.stats()["connected"]
    finally:
        z2m.close()
        gateway.stop(drain_s=0)


def gateway_process(tmp_path: Path, local: Mosquitto, platform: Mosquitto) -> TecwatchProcess:
    """``tecwatch gateway --config`` as a real OS process."""
    config = write_toml(tmp_path / "gateway.toml", config_dict(tmp_path, local, platform))
    return TecwatchProcess(["gateway", "--config", str(config), "--stats-interval", "1"], tmp_path / "gateway.log",
                           ready_marker=b"subscribed to")


def test_a_killed_gateway_leaves_a_retained_offline_status(tmp_path, local, platform, ingest, store):
    gw = gateway_process(tmp_path, local, platform)
    gw.start()
    try:
        wait_until(lambda: any(r.values.get("status") == "online" for r in store.readings(
            HOME, datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC), device_id="gateway")),
            15, "an online heartbeat in the store")
        gw.kill()
        wait_until(lambda: any(r.values == {"status": "offline"} for r in store.readings(
            HOME, datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC), device_id="gateway")),
            15, "the last will in the store")
        assert [p for p, r in status_messages(platform, 0.5) if r] == [{"status": "offline"}]
    finally:
        gw.stop()


def test_platform_outage_and_gateway_restart_lose_nothing(tmp_path, local, platform, ingest, store):
    """Feed Zigbee2MQTT states steadily; stop the platform broker, SIGKILL and restart the
    gateway while it is down, bring the broker back: every state is stored once, with its own
    time, and the alarm raised during the outage is delivered before the backlog."""
    gw = gateway_process(tmp_path, local, platform)
    gw.start()
    z2m = Publisher(local.host, local.port, "3.1.1")
    start = ms(datetime.now(UTC) - timedelta(hours=2))
    sent: list[datetime] = []
    order: list[str] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="order-watch", clean_session=False)
    watcher.username_pw_set(HOME, HOME_PASSWORD)
    watcher.reconnect_delay_set(1, 1)
    watcher.on_connect = lambda cl, *_: cl.subscribe(f"tec/v1/{HOME}/+/+", qos=1)
    watcher.on_message = lambda _c, _u, m: order.append(m.topic)

    def feed(seconds: float, rate: float = 40) -> None:
        for _ in range(int(seconds * rate)):
            ts = start + timedelta(milliseconds=100 * len(sent))
            sent.append(ts)
            z2m.publish([("zigbee2mqtt/Hall motion", json.dumps({"occupancy": len(sent) % 2 == 0,
                                                                  "last_seen": iso(ts)}))])
            time.sleep(1 / rate)

    try:
        watcher.connect(platform.host, platform.port)
        watcher.loop_start()
        feed(1.5)
        platform.stop()
        feed(1.5)
        z2m.publish([("zigbee2mqtt/Pendant", json.dumps({"action": "sos", "last_seen": iso(start)}))])
        feed(1.0)
        gw.kill()
        feed(1.0)  # queued for the gateway by the local broker's persistent session
        gw.start()
        feed(1.0)
        platform.start()
        feed(1.5)
        z2m.wait_all_published()

        def stored() -> list:
            return store.readings(HOME, start, start + timedelta(hours=1), device_id="pir-hall", limit=100_000)

        wait_until(lambda: len(stored()) >= len(sent), 60, f"all {len(sent)} states stored")
        readings = stored()
        assert sorted(r.ts for r in readings) == sent, "each state once, with its own time"
        by_ts = sorted(readings, key=lambda r: r.ts)
        seqs = [r.seq for r in by_ts]
        assert seqs == sorted(seqs), "sequence numbers keep rising across the gateway restart"
        press = store.readings(HOME, start, start + timedelta(seconds=1), device_id="pendant-1")
        assert [r.values["action"] for r in press] == ["press"]
        # What the platform received, in order: readings from before the outage, then the
        # alarm, then the backlog queued before it and everything after.
        devices = [t.split("/")[3] for t in order if not t.endswith("/status")]
        press_at = devices.index("pendant-1")
        assert press_at < len(sent) - 100, "the press came out ahead of the outage backlog"
        assert set(devices[press_at + 1:]) == {"pir-hall"}
        log = (tmp_path / "gateway.log").read_text()
        assert "lost the platform broker" in log and "messages waiting in the outbox" in log
    finally:
        watcher.loop_stop()
        z2m.close()
        gw.stop()


def test_the_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.home_id == "home-42" and cfg.platform.tls and len(cfg.devices) >= 5


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["devices"][0].update(type="toaster"), "devices.0.type: Value error, unknown device type 'toaster'"),
    (lambda c: c["devices"].append(dict(c["devices"][0])), "two devices have friendly_name 'Hall motion'"),
    (lambda c: c.update(home_id="home 1"), "home_id: String should match pattern"),
    (lambda c: c["platform"].update(prot="5"), "platform.prot: Extra inputs are not permitted"),
    (lambda c: c["platform"].pop("username"), "platform.username: Field required"),
])
def test_config_errors_name_the_key(tmp_path, mutate, message):
    fake = Mosquitto(tmp_path / "unused", port=1)
    cfg = config_dict(tmp_path, fake, fake)
    mutate(cfg)
    with pytest.raises(GatewayConfigError) as err:
        load_config(write_toml(tmp_path / "bad.toml", cfg))
    assert message in str(err.value)


def test_the_cli_reports_a_bad_config_file(tmp_path):
    (tmp_path / "broken.toml").write_text("home_id = \n")
    for path, message in ((tmp_path / "broken.toml", "not valid TOML"), (tmp_path / "missing.toml", "no such file")):
        run = subprocess.run([sys.executable, "-m", "tecwatch", "gateway", "--config", str(path)],
                             check=False, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and message in run.stderr


def test_password_file_is_read(tmp_path):
    fake = Mosquitto(tmp_path / "unused", port=1)
    cfg = config_dict(tmp_path, fake, fake)
    (tmp_path / "pw").write_text("s3cret\n")
    del cfg["platform"]["password"]
    cfg["platform"]["password_file"] = str(tmp_path / "pw")
    broker = GatewayConfig.model_validate(cfg).platform_broker()
    assert broker.password == SecretStr("s3cret") and broker.username == HOME
    cfg["platform"]["password_file"] = str(tmp_path / "nope")
    with pytest.raises(GatewayConfigError, match="cannot read platform.password_file"):
        GatewayConfig.model_validate(cfg).platform_broker()


def test_gateway_and_ingest_over_tls(tmp_path, local, store, caplog):
    tls = make_tls(tmp_path / "tls")
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), HOME, HOME_PASSWORD], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "tecwatch-ingest", INGEST_PASSWORD], check=True)
    extra = [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
    with Mosquitto(tmp_path / "platform-tls", password_file=passwords, extra_config=extra) as platform:
        settings = Settings(
            broker=BrokerSettings(mode="external", host=platform.host, port=platform.port, password=INGEST_PASSWORD,
                                  tls=True, tls_ca_file=tls["ca"]),
            registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"),
            ingest=IngestSettings(client_id="ingest-tls", batch_max_wait_s=0.05),
        )
        worker = Ingest(settings, store=store)
        worker.start()
        assert worker.mqtt.subscribed.wait(10), "ingest connects over TLS"
        untrusted = config_dict(tmp_path / "untrusted", local, platform)
        untrusted["platform"].update(tls=True)  # the system CAs do not know our test CA
        untrusted["home_id"] = "home-2"  # its own client ids on both brokers
        good = config_dict(tmp_path, local, platform)
        good["platform"].update(tls=True, tls_ca_file=str(tls["ca"]))
        gateways = [Gateway(GatewayConfig.model_validate(c)) for c in (untrusted, good)]
        z2m = Publisher(local.host, local.port, "3.1.1")
        try:
            for g in gateways:
                g.start()
                assert g.subscribed.wait(10)
            ts = ms(datetime.now(timezone.utc) - timedelta(minutes=5))
            z2m.publish([("zigbee2mqtt/Pendant", json.dumps({"action": "single", "last_seen": iso(ts)}))])
            wait_until(lambda: len(store.readings(HOME, ts, ts + timedelta(seconds=1))) == 1, 15,
                       "the press, over TLS")
            # Kept in the outbox until ingest confirms it stored it, a moment after it is stored.
            wait_until(lambda: gateways[1].outbox.depth() == 0, 10, "the platform's confirmation")
            wait_until(lambda: "cannot connect to the platform broker" in caplog.text, 10, "a TLS failure logged")
            assert gateways[0].outbox.depth() == 1 and not gateways[0].stats()["connected"]
        finally:
            z2m.close()
            for g in gateways:
                g.stop(drain_s=0)
            worker.stop()
