"""The loopback servers tests and benchmarks run on: they start, keep their data, and stop."""

from __future__ import annotations

import os
import threading
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from tecwatch.localservices import Influxd, Mosquitto


def _client(port: int, client_id: str, clean: bool = True) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_session_services_are_private_and_on_loopback(influxd: Influxd, mosquitto: Mosquitto):
    assert mosquitto.port != 1883 and mosquitto.host == "127.0.0.1"
    assert influxd.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{influxd.url}/ping").headers["X-Influxdb-Version"].startswith("1.")
    assert "max_queued_messages 1000000" in mosquitto.config_path.read_text()


def test_mosquitto_keeps_a_persistent_session_queue_across_restart(tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        received: list[bytes] = []
        got_all = threading.Event()
        n = 2500  # more than mosquitto's default queue of 1000

        def on_message(client, userdata, msg):
            received.append(msg.payload)
            if len(received) == n:
                got_all.set()

        sub = _client(broker.port, "ingest", clean=False)
        sub.subscribe("tec/#", qos=1)
        time.sleep(0.2)
        sub.disconnect()
        sub.loop_stop()

        pub = _client(broker.port, "gateway")
        infos = [pub.publish("tec/v1/h1/pir-1/reading", str(i).encode(), qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()

        broker.restart()  # clean stop saves the queue; same port and data dir

        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ingest", clean_session=False,
                          protocol=mqtt.MQTTv311)
        sub.on_message = on_message
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        assert got_all.wait(20), f"received {len(received)} of {n}"
        sub.disconnect()
        sub.loop_stop()
        assert sorted(int(p) for p in received) == list(range(n))
    finally:
        broker.stop()
    assert not broker.running


def test_start_failure_reports_the_log(tmp_path):
    broker = Mosquitto(tmp_path / "m", extra_config=["this_is_not_an_option 1"])
    with pytest.raises(RuntimeError, match="mosquitto exited"):
        broker.start()
    assert not broker.running


def test_influxd_context_manager_stops_it(tmp_path):
    with Influxd(tmp_path / "i") as server:
        pid = server.pid
        assert httpx.get(f"{server.url}/ping").status_code == 204
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
