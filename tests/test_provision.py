"""Gateway provisioning against a real mosquitto: each gateway gets its own password and may
publish under its own home only; provisioning more (or again) needs a SIGHUP, not a restart."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tecwatch.gateway.provision import ProvisionError, provision_gateway
from tecwatch.localservices import Mosquitto

from support import run_tecwatch

REPO = Path(__file__).resolve().parents[1]
INGEST_PASSWORD = "ingest password 1"


class Client:
    """A paho MQTT 5 client that records the broker's answers."""

    def __init__(self, port: int, username: str, password: str):
        self.connected: queue.Queue = queue.Queue()
        self.messages: queue.Queue = queue.Queue()
        self.acks: dict[int, ReasonCode] = {}
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        self.c.username_pw_set(username, password)
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self.connected.put(rc)
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.c.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.result: ReasonCode = self.connected.get(timeout=10)

    def publish(self, topic: str) -> ReasonCode:
        info = self.c.publish(topic, b"{}", qos=1)
        info.wait_for_publish(10)
        deadline = time.monotonic() + 5
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def broker(tmp_path):
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    # The files production starts from; one listener here, so ingest's block goes in the same file.
    deploy = REPO / "deploy" / "mosquitto"
    acl.write_text((deploy / "acl-platform").read_text() + "\n" + (deploy / "acl").read_text())
    subprocess.run(["mosquitto_passwd", "-c", str(passwd), "tecwatch-ingest"], check=True, capture_output=True,
                   input=f"{INGEST_PASSWORD}\n{INGEST_PASSWORD}\n", text=True)
    home1 = provision_gateway("home-1", passwd, acl)
    home2 = provision_gateway("home-2", passwd, acl)
    with Mosquitto(tmp_path / "mosq", password_file=passwd, extra_config=[f"acl_file {acl}"]) as mosq:
        ingest = Client(mosq.port, "tecwatch-ingest", INGEST_PASSWORD)
        ingest.c.subscribe("tec/v1/#", qos=1)
        time.sleep(0.2)
        yield mosq, passwd, acl, ingest, {"home-1": home1, "home-2": home2}
        ingest.close()


def received(ingest: Client, wait_s: float = 1.0) -> list[str]:
    topics, deadline = [], time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            topics.append(ingest.messages.get(timeout=0.05)[0])
        except queue.Empty:
            pass
    return topics


def test_a_gateway_publishes_under_its_own_home_only(broker):
    mosq, _passwd, _acl, ingest, creds = broker
    gw1 = Client(mosq.port, creds["home-1"].username, creds["home-1"].password)
    assert gw1.result.is_failure is False
    assert gw1.publish("tec/v1/home-1/pir-hall/reading").is_failure is False
    refused = gw1.publish("tec/v1/home-2/pendant-1/event")  # a forged pendant press in another home
    assert refused.is_failure and refused.getName() == "Not authorized"
    assert gw1.publish("tec/v1/home-1/gateway/status").is_failure is False
    gw1.close()
    assert received(ingest) == ["tec/v1/home-1/pir-hall/reading", "tec/v1/home-1/gateway/status"]

    wrong = Client(mosq.port, creds["home-2"].username, creds["home-1"].password)  # home-1's password
    assert wrong.result.is_failure
    wrong.close()


def test_new_and_reset_gateways_take_effect_on_sighup(broker):
    mosq, passwd, acl, ingest, creds = broker
    home3 = provision_gateway("home-3", passwd, acl)
    reset = provision_gateway("home-1", passwd, acl)  # a lost hub: new password, the old one stops working
    assert reset.password != creds["home-1"].password
    os.kill(mosq.pid, signal.SIGHUP)
    time.sleep(0.5)
    gw3 = Client(mosq.port, home3.username, home3.password)
    assert gw3.result.is_failure is False
    assert gw3.publish("tec/v1/home-3/door-front/reading").is_failure is False
    assert gw3.publish("tec/v1/home-1/door-front/reading").is_failure
    gw3.close()
    old = Client(mosq.port, reset.username, creds["home-1"].password)
    assert old.result.is_failure
    old.close()
    assert received(ingest) == ["tec/v1/home-3/door-front/reading"]
    text = acl.read_text()
    assert text.count("user gw-home-1") == 1 and "user tecwatch-ingest" in text, text  # replaced, others kept
    assert [line for line in passwd.read_text().splitlines() if line.startswith("gw-home-1:")].__len__() == 1


def test_bad_home_ids_and_the_command_line(tmp_path):
    with pytest.raises(ProvisionError, match="not a home id"):
        provision_gateway("../etc", tmp_path / "passwd", tmp_path / "acl")
    env = {"TECWATCH_BROKER__PASSWD_FILE": str(tmp_path / "passwd"), "TECWATCH_BROKER__ACL_FILE": str(tmp_path / "acl")}
    done = run_tecwatch(["provision-gateway", "home-7"], tmp_path, env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "username gw-home-7, password " in done.stdout and "tec/v1/home-7/#" in done.stdout
    assert (tmp_path / "acl").read_text() == ("user gw-home-7\ntopic write tec/v1/home-7/#\n"
                                              "topic read tec/confirm/v1/home-7\n")
    bad = run_tecwatch(["provision-gateway", "home 7"], tmp_path, env, timeout=60)
    assert bad.returncode == 2 and "not a home id" in bad.stderr and "Traceback" not in bad.stderr
