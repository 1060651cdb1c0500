"""``tecwatch demo``: the whole platform on one machine with no set-up. An embedded broker,
ingest, the alert engine with its scheduled rules, the API and web pages, and simulated homes
with four weeks of history carrying on live; a pendant press shortly after start shows the alarm
path end to end, to a stand-in monitoring centre's signed webhook and the live console."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import datetime, time as clock_time, timedelta, timezone
from zoneinfo import ZoneInfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import uvicorn

from tecwatch.alerts.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tecwatch.alerts.service import list_alerts
from tecwatch.api.app import server_config
from tecwatch.broker import EmbeddedBroker
from tecwatch.demoseed import DEMO_PASSWORD, DEMO_USERS, SEEDER, seed_demo
from tecwatch.localservices import free_port
from tecwatch.mqtt import BrokerConnection
from tecwatch.registry import chains, contacts
from tecwatch.registry.accessinfo import Sealer
from tecwatch.registry.models import ResponderKind
from tecwatch.services import Alerts, Ingest, build_api, report_health
from tecwatch.settings import Settings
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.encode import PlatformEncoder
from tecwatch.simulators.home import SimHome, make_home
from tecwatch.simulators.live import run_live
from tecwatch.simulators.routine import DeviceEvent
from tecwatch.simulators.scenarios import Scenario, ScenarioKind

log = logging.getLogger(__name__)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


DEMO_CENTRE = "Monitoring centre (demo)"


class _CentreWebhook:
    """Stands in for a monitoring centre's system: takes the signed webhooks and prints them."""

    def __init__(self, secret: bytes, out) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signed = verify(secret, self.headers.get(TIMESTAMP_HEADER, ""), body,
                                self.headers.get(SIGNATURE_HEADER, ""))
                notice = json.loads(body)
                out(f">> monitoring centre notified (signature {'ok' if signed else 'BAD'}): alert "
                    f"{notice['alert_id']} [P{notice['priority']}] {notice['rule']} at {notice['home_id']}: "
                    f"{notice['reason']}")
                self.send_response(204 if signed else 401)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _demo_escalation(engine: Engine, url: str) -> None:
    """A county-default chain that notifies the demo monitoring centre (its URL changes per run)."""
    now = datetime.now(timezone.utc)
    route = {"kind": "webhook", "target": url}
    with Session(engine) as s, s.begin():
        found = contacts.search_responders(s, name=DEMO_CENTRE, kind=ResponderKind.OPERATOR, limit=1).items
        if found:
            contacts.update_responder(s, SEEDER, found[0].id, {"routes": [route]}, version=found[0].version, now=now)
            return
        centre = contacts.create_responder(s, SEEDER, {"name": DEMO_CENTRE, "kind": ResponderKind.OPERATOR,
                                                       "routes": [route]}, now=now)
        chains.create_chain(s, SEEDER, {"name": "demo default", "steps": [{"responder_id": centre.id,
                                                                            "wait_minutes": 5}]}, now=now)


SEED = 7
PENDANT_AFTER_S = 10.0


def _free_or_other(host: str, port: int, what: str, out) -> int:
    if _port_free(host, port):
        return port
    other = free_port(host)
    out(f"Port {port} is in use; the {what} will listen on {other} instead.")
    return other


def _press_pendant(settings: Settings, home: SimHome, out) -> None:
    """A pendant press, and one malformed message to show dead-lettering."""
    conn = BrokerConnection(settings.broker.model_copy(update={"username": "demo-press"}), "tecwatch-demo-press",
                            persistent=False)
    conn.start()
    try:
        deadline = time.monotonic() + 10
        while not conn.client.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError("the broker did not answer")
            time.sleep(0.05)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        press = PlatformEncoder().encode(home, DeviceEvent(now, home.home_id, "pendant-1", {"action": "press"}))
        conn.client.publish(press.topic, press.payload, qos=1).wait_for_publish(10)
        bad = conn.client.publish(f"tec/v1/{home.home_id}/pir-hall/reading", b'{"type": "motion", "occupancy": true}', qos=1)
        bad.wait_for_publish(10)
        out(f"** {home.home_id}: the pendant was pressed (and one message without a time was sent, to be rejected)")
    except (RuntimeError, ValueError) as err:
        out(f"could not send the demo pendant press: {err}")
    finally:
        conn.stop()


def _wait_until_stored(store, home_ids: list[str], within: timedelta, timeout_s: float) -> None:
    """Until every home's hub was heard (as stored) within ``within`` of now, or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        newest = {}
        for seen in store.last_seen(home_ids):
            if seen.device_id == "gateway":
                newest[seen.home_id] = seen.last_ts
        if len(newest) == len(home_ids) and min(newest.values()) >= datetime.now(timezone.utc) - within:
            return
        time.sleep(0.2)


def run_demo(settings: Settings, homes: int = 5, duration: float | None = None, history_days: int = 28,
             out=print) -> None:
    if homes < 1 or history_days < 1:
        raise ValueError("--homes and --history-days must be 1 or more")
    broker = settings.broker
    if broker.mode == "embedded":
        broker = broker.model_copy(update={"port": _free_or_other(broker.host, broker.port, "embedded broker", out)})
    api = settings.api.model_copy(update={"port": _free_or_other(settings.api.host, settings.api.port, "web server", out)})
    settings = settings.model_copy(update={"broker": broker, "api": api})
    sim = [make_home(SEED, i) for i in range(1, homes + 1)]

    embedded = EmbeddedBroker(broker.host, broker.port) if broker.mode == "embedded" else None
    if embedded:
        embedded.start()
    worker = Ingest(settings)
    seed_demo(worker.engine, sim, sealer=Sealer(settings.registry.encryption_key.get_secret_value()))
    centre = _CentreWebhook(settings.alerts.signing_key, out)
    _demo_escalation(worker.engine, centre.url)
    zone = ZoneInfo(sim[0].tz)
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
    if not worker.store.last_seen([sim[0].home_id]):
        out(f"Writing {history_days} days of history for {homes} homes (once)...")
        done = backfill(worker.store, sim, days=history_days, seed=SEED, first_day=midnight.astimezone(zone).date()
                        - timedelta(days=history_days), progress=False)
        out(f"  {done.readings:,} readings in {done.seconds:.1f} s")
    worker.start()
    web = uvicorn.Server(server_config(build_api(settings), api.host, api.port, log_level="warning",
                                       timeout_graceful_shutdown=2))
    web_thread = threading.Thread(target=web.run, name="demo-web", daemon=True)
    web_thread.start()
    stop, caught_up = threading.Event(), threading.Event()
    # A sensor battery ran low in the small hours: a device problem waiting in the console.
    flat = Scenario(ScenarioKind.LOW_BATTERY, sim[min(2, homes - 1)].home_id, day=1, at=clock_time(0, 30))
    # Today so far replayed quickly, then on in real time.
    live = threading.Thread(target=run_live, name="demo-homes", daemon=True, args=(
        broker.model_copy(update={"username": "demo-homes"}), sim), kwargs={
        "seed": SEED, "stop": stop, "speed": 3600.0, "start": midnight, "heartbeat_s": 60, "out": lambda _s: None,
        "on_caught_up": caught_up.set, "scenarios": [flat]})
    live.start()
    out("Replaying today so far...")
    caught_up.wait(120)
    _wait_until_stored(worker.store, [h.home_id for h in sim], within=timedelta(minutes=2), timeout_s=60)
    # The rules start once the homes are current in the store, not merely published: a hub last
    # heard at midnight is not an outage.
    alerts = Alerts(settings, store=worker.store, registry=worker.engine)
    alerts.start()
    press = threading.Timer(PENDANT_AFTER_S, _press_pendant, args=(settings, sim[min(1, homes - 1)], out))
    press.start()
    try:
        while not web.started and web_thread.is_alive():
            time.sleep(0.05)
        url = f"http://{api.host}:{api.port}"
        if not web.started:  # it could not bind its port (taken meanwhile) or its start-up failed: say so
            raise SystemExit(f"tecwatch demo: the web server did not start on {url} (see the log above)")
        out(f"tecwatch demo is running: {homes} simulated homes, broker mqtt://{broker.host}:{broker.port}, "
            f"store {settings.store.backend}. Ctrl-C to stop.")
        out(f"Open {url}/ and sign in (password for all: {DEMO_PASSWORD}):")
        for username, role, what in DEMO_USERS:
            out(f"  {username:13} {role.value:13} {what}")
        out(f"A pendant will be pressed in {PENDANT_AFTER_S:.0f} s; watch it arrive in the console. A sensor's "
            f"battery at {flat.home_id} ran low at 00:30 today; it waits there too.")
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            time.sleep(min(10.0, max(duration - (time.monotonic() - started), 0.1)) if duration else 10.0)
            for name, service in (("ingest", worker), ("alerts", alerts)):
                report_health(name, service, settings)
            out(f"-- {worker.stats().summary()}; open alerts: {list_alerts(worker.engine, limit=1).total}")
    except KeyboardInterrupt:
        out("stopping...")
    finally:
        press.cancel()
        stop.set()
        live.join(10)
        web.should_exit = True
        web_thread.join(10)
        alerts.stop()
        worker.stop()
        centre.close()
        if embedded:
            embedded.stop()
    open_alerts = list_alerts(worker.engine).items
    if open_alerts:
        out(f"Open alerts ({len(open_alerts)}; they wait for you in the console next time):")
        for a in open_alerts[:5]:
            out(f"  #{a.id} [P{a.priority}] {a.rule} at {a.home_id}: {a.reason} ({a.state}, step {a.escalation_step})")
    rejected = worker.dead_letters.list(limit=3)
    if rejected:
        out("Recent dead letters (rejected messages, kept for inspection):")
        for d in rejected:
            out(f"  {d.received_at:%H:%M:%S} {d.reason}: {d.detail}  [{d.topic}]")
    out(f"Done: {worker.stats().summary()}")
