"""Client-id takeover at the broker, replayed on a real mosquitto running deploy/mosquitto: a
gateway's login using ingest's client id (persistent or clean session, or reconnecting over and
over) changes nothing for ingest."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tecwatch.gateway.provision import provision_gateway
from tecwatch.services import Ingest
from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings
from tecwatch.store.sqlite import SQLiteStore

from support import make_tls, wait_until
from test_deploy import REPO, ProductionMosquitto

INGEST_PASSWORD = "ingest password 1"


def _config(tmp_path):
    config = tmp_path / "config"
    (config / "certs").mkdir(parents=True)
    tls = make_tls(config / "tls")
    (config / "certs" / "server.crt").write_bytes(tls["cert"].read_bytes())
    (config / "certs" / "server.key").write_bytes(tls["key"].read_bytes())
    for name in ("acl", "acl-platform"):
        (config / name).write_text((REPO / "deploy" / "mosquitto" / name).read_text())
    subprocess.run(["mosquitto_passwd", "-c", str(config / "passwd-platform"), "tecwatch-ingest"], check=True,
                   input=f"{INGEST_PASSWORD}\n{INGEST_PASSWORD}\n", text=True, capture_output=True)
    return config, tls["ca"], provision_gateway("home-1", config / "passwd", config / "acl")


def _client(port, username, password, client_id, *, ca=None, clean=True, v5=False):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                    **({} if v5 else {"clean_session": clean}))
    c.username_pw_set(username, password)
    if ca:
        c.tls_set(ca_certs=str(ca))
    result: list = []
    c.on_connect = lambda _c, _u, _f, rc, _p: result.append(rc)
    try:
        c.connect("127.0.0.1", port)
    except OSError as err:
        return f"refused: {err}"
    c.loop_start()
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        time.sleep(0.02)
    if not result or result[0].is_failure:
        c.loop_stop()
        return f"refused: {result[0] if result else 'no answer'}"
    return c


def _close(c) -> None:
    if not isinstance(c, str):
        c.disconnect()
        c.loop_stop()


def test_a_gateway_cannot_take_over_ingests_session(tmp_path):
    config, ca, gateway = _config(tmp_path)
    with ProductionMosquitto(tmp_path / "mosq", config) as broker:
        settings = Settings(
            broker=BrokerSettings(mode="external", host="127.0.0.1", port=broker.port, protocol="5",
                                  username="tecwatch-ingest", password=INGEST_PASSWORD, reconnect_max_s=1),
            registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"), data_dir=tmp_path / "data",
            ingest=IngestSettings(client_id="tecwatch-ingest", batch_max_wait_s=0.05),
        )
        store = SQLiteStore(tmp_path / "readings.db")
        ingest = Ingest(settings, store=store)
        ingest.start()
        assert ingest.mqtt.subscribed.wait(10)
        ingest.stop()  # its persistent session stays at the broker, queueing for it

        hub = _client(broker.tls_port, gateway.username, gateway.password, "hub-1", ca=ca)
        start = datetime.now(timezone.utc) - timedelta(minutes=1)
        for i in range(20):
            body = {"type": "motion", "ts": (start + timedelta(seconds=i)).isoformat(), "seq": i, "occupancy": True}
            hub.publish("tec/v1/home-1/pir-1/reading", json.dumps(body).encode(), qos=1).wait_for_publish(5)
        press = {"type": "pendant", "ts": start.isoformat(), "seq": 99, "action": "press"}
        hub.publish("tec/v1/home-1/pendant-1/event", json.dumps(press).encode(), qos=1).wait_for_publish(5)

        # The gateway's login with ingest's client id: on ingest's listener it is refused; on its
        # own it gets its username as client id, with a persistent session or a clean one.
        assert _client(broker.port, gateway.username, gateway.password, "tecwatch-ingest").startswith("refused")
        for clean in (False, True):
            thief = _client(broker.tls_port, gateway.username, gateway.password, "tecwatch-ingest", ca=ca, clean=clean)
            assert not isinstance(thief, str), thief
            _close(thief)

        ingest = Ingest(settings, store=store)
        disconnects = []
        ingest.start()
        try:
            assert ingest.mqtt.subscribed.wait(10)
            wait_until(lambda: ingest.stats().written == 21, 10, "all 21 queued messages, the press among them")
            ingest.mqtt._conn.client.on_disconnect = lambda *a: disconnects.append(a)  # noqa: SLF001

            # Reconnecting every 0.5 s with ingest's client id keeps nobody else off the broker.
            stop = threading.Event()

            def pester():
                while not stop.is_set():
                    _close(_client(broker.tls_port, gateway.username, gateway.password, "tecwatch-ingest", ca=ca))
                    stop.wait(0.5)

            pesterer = threading.Thread(target=pester)
            pesterer.start()
            try:
                for i in range(40):
                    body = {"type": "motion", "ts": (start + timedelta(seconds=30 + i)).isoformat(), "seq": 100 + i,
                            "occupancy": True}
                    hub.publish("tec/v1/home-1/pir-1/reading", json.dumps(body).encode(), qos=1)
                    time.sleep(0.05)
                wait_until(lambda: ingest.stats().written == 61, 10, "every reading sent during the attack")
            finally:
                stop.set()
                pesterer.join(10)
            assert disconnects == [] and ingest.mqtt.connected
        finally:
            _close(hub)
            ingest.stop()
            store.close()
