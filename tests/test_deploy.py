"""Production deployment: the compose file's structure (no container engine runs here), the
production mosquitto.conf on a real mosquitto, the refusal to start with placeholder secrets, and
the health checks the compose file runs."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from tecwatch.gateway.provision import provision_gateway
from tecwatch.health import Health, heartbeat_path, write_status
from tecwatch.localservices import Mosquitto, free_port
from tecwatch.settings import Settings

from apisupport import api_server
from support import make_tls, run_tecwatch

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
TECWATCH = ("ingest", "alerts", "api")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")
FROM_ENV = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]+\}")  # ${VAR:?message}: compose stops when VAR is unset
# Three different random-looking values: production refuses a secret shared between uses.
SECRETS = {"token": "tok-7f3a9c1e5b2d8046aa91c3e7f0b4d2869e15",
           "webhook": "whk-0c8e4b2a6f9d1357bd02e4f6a8c1e3579bd0",
           "ack": "ack-5d2f8a0c4e6b1937ce14a2b6d8f0c3e5a7b9",
           "encryption": "bZ3v8RkQ2wYtN6pLx0cH4jF9sD1aG7mE5uK8iO2qW3s="}


def _env_items():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            yield name, key, str(value)


def test_compose_has_every_service_each_with_a_health_check():
    assert set(SERVICES) == {"mosquitto", "influxdb", "postgres", *TECWATCH}
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in TECWATCH:
        assert SERVICES[name]["build"] == "."  # one image, from the Dockerfile in the repo
        assert SERVICES[name]["healthcheck"]["test"] == ["CMD", "tecwatch", "healthcheck", name]
        assert SERVICES[name]["environment"]["TECWATCH_PRODUCTION"] == "true"
        assert SERVICES[name]["restart"] == "unless-stopped"
    assert (REPO / "Dockerfile").exists()


def test_compose_keeps_state_in_declared_volumes():
    declared = set(COMPOSE["volumes"])
    for name, path in (("mosquitto", "/mosquitto/data"), ("influxdb", "/var/lib/influxdb2"),
                       ("postgres", "/var/lib/postgresql/data"), ("alerts", "/var/lib/tecwatch")):
        mounts = [v.split(":") for v in SERVICES[name]["volumes"]]
        assert any(m[1] == path and m[0] in declared for m in mounts), f"{name}: {path} is not on a named volume"


def test_compose_has_no_secret_in_it():
    secrets = [(name, key, value) for name, key, value in _env_items() if SECRET_NAME.search(key)]
    assert len(secrets) >= 6
    for name, key, value in secrets:
        assert FROM_ENV.search(value), f"{name}.{key} = {value!r}: secrets come from the environment (.env)"
        assert "change-me" not in value.lower()


def test_compose_influxdb_is_initialised_with_retention():
    env = SERVICES["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["DOCKER_INFLUXDB_INIT_ORG"] and env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert re.fullmatch(r"\d+[dhw]", env["DOCKER_INFLUXDB_INIT_RETENTION"])


def test_compose_ingest_user_is_the_one_the_acl_lets_read():
    user = SERVICES["ingest"]["environment"]["TECWATCH_BROKER__USERNAME"]
    acl = (REPO / "deploy" / "mosquitto" / "acl-platform").read_text()
    assert f"user {user}\ntopic read tec/v1/#" in acl


class ProductionMosquitto(Mosquitto):
    """deploy/mosquitto/mosquitto.conf as it is, with its container paths and ports moved here."""

    def __init__(self, workdir: Path, config_dir: Path):
        super().__init__(workdir)
        self.tls_port = free_port()
        self.config_dir = config_dir

    def _config(self) -> str:
        text = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
        text = text.replace("/mosquitto/config", str(self.config_dir)).replace("/mosquitto/data", str(self.workdir / "data"))
        text = text.replace("listener 1883", f"listener {self.port} 127.0.0.1")
        text = text.replace("listener 8883", f"listener {self.tls_port} 127.0.0.1")
        text = text.replace("log_dest stdout", f"log_dest file {self.log_path}")
        return f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" + text  # stay who we are, as Mosquitto does


def _connect(port: int, username: str | None, password: str | None, ca: Path | None = None) -> mqtt.Client | str:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username:
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


def test_the_production_broker_config_on_real_mosquitto(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    tls = make_tls(config / "tls")
    (config / "certs").mkdir()
    (config / "certs" / "server.crt").write_bytes(tls["cert"].read_bytes())
    (config / "certs" / "server.key").write_bytes(tls["key"].read_bytes())
    for name in ("acl", "acl-platform"):
        (config / name).write_text((REPO / "deploy" / "mosquitto" / name).read_text())
    subprocess.run(["mosquitto_passwd", "-c", str(config / "passwd-platform"), "tecwatch-ingest"], check=True,
                   input="ingest pw 1\ningest pw 1\n", text=True, capture_output=True)
    gateway = provision_gateway("home-1", config / "passwd", config / "acl")
    with ProductionMosquitto(tmp_path / "mosq", config) as broker:
        assert _connect(broker.port, None, None).startswith("refused")  # no anonymous clients
        assert _connect(broker.tls_port, gateway.username, gateway.password).startswith("refused")  # TLS only
        ingest = _connect(broker.port, "tecwatch-ingest", "ingest pw 1")
        gw = _connect(broker.tls_port, gateway.username, gateway.password, ca=tls["ca"])
        assert not isinstance(ingest, str) and not isinstance(gw, str), (ingest, gw)
        got: list[str] = []
        ingest.on_message = lambda _c, _u, m: got.append(m.topic)
        ingest.subscribe("tec/v1/#", qos=1)
        time.sleep(0.3)
        gw.publish("tec/v1/home-1/pendant-1/event", b"{}", qos=1).wait_for_publish(5)
        gw.publish("tec/v1/home-2/pendant-1/event", b"{}", qos=1).wait_for_publish(5)  # not its home
        deadline = time.monotonic() + 3
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert got == ["tec/v1/home-1/pendant-1/event"]
        for c in (ingest, gw):
            c.disconnect()
            c.loop_stop()
    assert any((tmp_path / "mosq" / "data").iterdir()), "persistence is on: the broker saved its store"


def test_the_production_broker_refuses_what_ingest_would_reject_as_oversize(tmp_path):
    """Nothing over 16 KB gets through to ingest; everything else does, many in flight at once."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    config = tmp_path / "config"
    (config / "certs").mkdir(parents=True)
    tls = make_tls(config / "tls")
    (config / "certs" / "server.crt").write_bytes(tls["cert"].read_bytes())
    (config / "certs" / "server.key").write_bytes(tls["key"].read_bytes())
    for name in ("acl", "acl-platform"):
        (config / name).write_text((REPO / "deploy" / "mosquitto" / name).read_text())
    subprocess.run(["mosquitto_passwd", "-c", str(config / "passwd-platform"), "tecwatch-ingest"], check=True,
                   input="ingest pw 1\ningest pw 1\n", text=True, capture_output=True)
    gateway = provision_gateway("home-1", config / "passwd", config / "acl")

    def connect_v5(port, username, password, ca=None, receive_maximum=None):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-v5", protocol=mqtt.MQTTv5)
        c.username_pw_set(username, password)
        if ca:
            c.tls_set(ca_certs=str(ca))
        connack: list = []
        c.on_connect = lambda _c, _u, _f, rc, props: connack.append((rc, props))
        props = Properties(PacketTypes.CONNECT)
        if receive_maximum:
            props.ReceiveMaximum = receive_maximum
        c.connect("127.0.0.1", port, properties=props)
        c.loop_start()
        deadline = time.monotonic() + 5
        while not connack and time.monotonic() < deadline:
            time.sleep(0.02)
        assert connack and not connack[0][0].is_failure, connack
        return c, connack[0][1]

    with ProductionMosquitto(tmp_path / "mosq", config) as broker:
        ingest, _ = connect_v5(broker.port, "tecwatch-ingest", "ingest pw 1", receive_maximum=20000)
        gw, _ = connect_v5(broker.tls_port, gateway.username, gateway.password, ca=tls["ca"])
        try:
            got: list[int] = []
            ingest.manual_ack_set(True)  # acknowledge nothing: how many does the broker send at once?
            ingest.on_message = lambda _c, _u, m: got.append(m.payload)
            ingest.subscribe("tec/v1/#", qos=1)
            time.sleep(0.3)
            gw.publish("tec/v1/home-1/pir-1/reading", b"x" * 16_385, qos=1).wait_for_publish(5)
            for i in range(300):
                gw.publish("tec/v1/home-1/pir-1/reading", str(i).encode(), qos=1)
            deadline = time.monotonic() + 30  # a loaded machine has taken over 10 s
            while len(set(got)) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert set(got) == {str(i).encode() for i in range(300)}, "300 in flight to ingest, none over 16 KB"
        finally:
            for c in (ingest, gw):
                c.disconnect()
                c.loop_stop()


def _production(**changes) -> dict:
    env = {"production": True, "broker": {"mode": "external", "password": "broker password 1"},
           "store": {"backend": "influxdb"},
           "registry": {"url": "postgresql+psycopg://tecwatch@db/tecwatch", "encryption_key": SECRETS["encryption"]},
           "alerts": {"webhook_secret": SECRETS["webhook"], "ack_link_secret": SECRETS["ack"]},
           "api": {"token_secret": SECRETS["token"]}}
    return env | changes


def test_production_refuses_placeholders_and_the_embedded_defaults():
    Settings(**_production())  # real secrets: fine
    with pytest.raises(ValidationError) as err:
        Settings(production=True)
    text = str(err.value)
    for problem in ("alerts.webhook_secret is not set", "alerts.ack_link_secret is not set", "api.token_secret is not set",
                    "registry.encryption_key is not set", "broker.mode is embedded", "the store and registry are SQLite"):
        assert problem in text, text
    for changes in ({"api": {"token_secret": "short"}}, {"alerts": {"webhook_secret": "change-me" + "x" * 40}},
                    {"broker": {"mode": "external", "password": None}}):
        with pytest.raises(ValidationError, match="refusing to start in production"):
            Settings(**_production(**changes))
    with pytest.raises(ValidationError, match="published placeholder"):
        Settings(alerts={"webhook_secret": "change-me"})  # not outside production either


def test_a_production_service_with_a_placeholder_will_not_start(tmp_path):
    done = run_tecwatch(["api"], tmp_path, {"TECWATCH_PRODUCTION": "true"}, timeout=60)
    assert done.returncode == 2
    assert "refusing to start in production" in done.stderr and "api.token_secret" in done.stderr
    assert "Traceback" not in done.stderr


def _healthcheck(service: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return run_tecwatch(["healthcheck", service, "--max-age", "2"], cwd, env, timeout=60)


def test_healthchecks(tmp_path):
    env = {"TECWATCH_DATA_DIR": str(tmp_path / "data")}
    missing = _healthcheck("ingest", env, tmp_path)
    assert missing.returncode == 1 and "no heartbeat yet" in missing.stderr
    status = heartbeat_path(tmp_path / "data", "ingest")
    write_status(status, Health(None, "received=10 written=10"))
    ok = _healthcheck("ingest", env, tmp_path)
    assert ok.returncode == 0 and "ingest: ok (received=10 written=10)" in ok.stdout
    # Fresh, but saying it is stuck: unhealthy, with the reason.
    write_status(status, Health("12 messages waiting and none stored or acknowledged for 75 s", "received=22"))
    stuck = _healthcheck("ingest", env, tmp_path)
    assert stuck.returncode == 1 and "12 messages waiting" in stuck.stderr
    time.sleep(2.5)
    old = _healthcheck("ingest", env, tmp_path)
    assert old.returncode == 1 and "last heartbeat" in old.stderr

    url = f"sqlite:///{tmp_path}/registry.db"
    with api_server(url, tmp_path) as (base_url, _settings):
        port = base_url.rsplit(":", 1)[1]
        assert _healthcheck("api", env | {"TECWATCH_API__PORT": port}, tmp_path).returncode == 0
    down = _healthcheck("api", env | {"TECWATCH_API__PORT": port}, tmp_path)
    assert down.returncode == 1 and "healthz" in down.stderr
