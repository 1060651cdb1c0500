"""The whole platform as real processes for the reliability runs, with steady traffic and a count
at the end of what was sent against what arrived.

Mosquitto (persistence on), influxd and PostgreSQL; `tecwatch ingest --workers 2` and
`tecwatch alerts`; a webhook receiver standing in for the monitoring centre, the county-default
escalation chain's only step. Traffic: readings from every home at a steady rate, and now and
then a pendant press in a home of its own, so each press must become exactly one alert and one
delivered notification. The homes send through the gateway's own outbox and forwarder (MQTT 5),
as real hubs do: what the broker has not taken, or took for nobody, is sent again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.db import make_engine
from tecwatch.devices.payloads import confirm_topic, parse_confirmation
from tecwatch.gateway.forwarder import Forwarder
from tecwatch.gateway.outbox import Outbox
from tecwatch.store.influx import InfluxStore
from tecwatch.localservices import Influxd, Mosquitto
from tecwatch.mqtt import disconnect_and_stop
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import Alert, ContactRoute, EscalationChain, EscalationStep, Notification, NotificationStatus, Responder, ResponderKind

from receivers import WebhookReceiver
from support import TecwatchProcess, wait_until

FAR_PAST = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass
class Outcome:
    """What a run sent and what arrived; ``lost`` must be empty."""

    name: str
    readings_published: int
    readings_stored: int
    presses: int
    alerts_raised: int
    webhooks_delivered: int
    lost: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.name}: readings published {self.readings_published:,}, stored {self.readings_stored:,}; "
                f"pendant presses {self.presses}, alerts raised {self.alerts_raised}, "
                f"monitoring centre notified {self.webhooks_delivered}; "
                + ("nothing lost" if not self.lost else "LOST: " + "; ".join(self.lost)))


class Hubs:
    """The homes' side: a gateway outbox on disk and its forwarder on one MQTT 5 connection,
    keeping each message until the platform confirms it (sent again after ``resend_after_s``)."""

    def __init__(self, tmp: Path, host: str, port: int, resend_after_s: float = 3.0):
        self.outbox = Outbox(tmp / "outbox.db", resend_after_s=resend_after_s, resend_max_s=resend_after_s * 4)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"hubs-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 2)
        self.client.max_inflight_messages_set(500)
        self.forwarder = Forwarder(self.outbox, self.client)
        self.client.on_publish = self.forwarder.on_publish
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.forwarder.on_confirm(parse_confirmation(m.payload) or [])
        self.client.connect(host, port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.forwarder.run, args=(self._stop, 0.2), daemon=True)
        self._thread.start()

    def _on_connect(self, client, *_args) -> None:
        client.subscribe(confirm_topic("+"), qos=1)  # every home's confirmations: one outbox here
        self.forwarder.notify()

    def put(self, messages: list[tuple[str, Callable[[int], bytes], bool]]) -> None:
        """Queue messages whose payload is made with the outbox's sequence number."""
        for topic, make, alarm in messages:
            self.outbox.put_sequenced(lambda seq, t=topic, m=make, a=alarm: (t, m(seq), a))
        self.forwarder.notify()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        disconnect_and_stop(self.client)
        self.outbox.close()


class Traffic:
    """Readings from ``homes`` homes at ``rate`` a second, and a pendant press every
    ``press_every_s`` in a home kept for presses (home-p1, home-p2, ...)."""

    def __init__(self, hubs: Hubs, homes: int = 20, rate: float = 200.0, press_every_s: float = 2.0):
        self.hubs, self.homes, self.rate, self.press_every_s = hubs, homes, rate, press_every_s
        self.readings: Counter[str] = Counter()  # per home
        self.presses: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def _run(self) -> None:
        n, tick, next_press = 0, 0.05, time.monotonic() + self.press_every_s
        per_tick = max(1, round(self.rate * tick))
        while not self._stop.wait(tick):
            batch = []
            for _ in range(per_tick):
                n += 1
                home = f"home-{n % self.homes + 1}"
                ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                # A device is used again 140 readings later, so each reading has its own time.
                body = {"type": "temperature", "ts": ts, "room": "lounge", "temperature": 19.5}
                batch.append((f"tec/v1/{home}/temp-{n % 7}/reading", _with_seq(body), False))
                self.readings[home] += 1
            if time.monotonic() >= next_press:
                home = f"home-p{len(self.presses) + 1}"
                ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                press = {"type": "pendant", "ts": ts, "room": "hall", "action": "press"}
                batch.append((f"tec/v1/{home}/pendant-1/event", _with_seq(press), True))
                self.presses.append(home)
                next_press += self.press_every_s
            self.hubs.put(batch)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _with_seq(body: dict) -> Callable[[int], bytes]:
    return lambda seq: json.dumps(body | {"seq": seq}).encode()


class PlatformRun:
    """Start everything in ``tmp``; ``stop()`` stops it all and ``outcome()`` counts."""

    def __init__(self, tmp: Path, registry_url: str, influxd: Influxd | None = None, webhook: WebhookReceiver | None = None,
                 alerts_env: dict[str, str] | None = None, autosave_interval_s: int = 1):
        self.tmp = tmp
        self.registry_url = registry_url
        self.registry: Engine = make_engine(registry_url)
        upgrade(self.registry)
        self.webhook = webhook or WebhookReceiver()
        self._escalate_to(self.webhook.url)
        self.broker = Mosquitto(tmp / "mosquitto", autosave_interval_s=autosave_interval_s)
        self.own_influxd = influxd is None
        self.influxd = influxd or Influxd(tmp / "influxd")
        self.database = f"rel_{uuid.uuid4().hex[:8]}"
        self.store: InfluxStore | None = None
        self.alerts_env = alerts_env or {}
        self.processes: list[TecwatchProcess] = []
        self.hubs: Hubs | None = None
        self.traffic: Traffic | None = None
        self.stopped = False

    def _escalate_to(self, url: str) -> None:
        with Session(self.registry) as s, s.begin():
            centre = Responder(name="Monitoring centre", kind=ResponderKind.OPERATOR)
            s.add(centre)
            s.flush()
            s.add(ContactRoute(responder_id=centre.id, kind="webhook", target=url))
            chain = EscalationChain(home_id=None, name="county default")
            s.add(chain)
            s.flush()
            s.add(EscalationStep(chain_id=chain.id, position=1, responder_id=centre.id, wait_minutes=30))

    def env(self) -> dict[str, str]:
        return {
            "TECWATCH_BROKER__MODE": "external", "TECWATCH_BROKER__HOST": self.broker.host,
            "TECWATCH_BROKER__PORT": str(self.broker.port), "TECWATCH_BROKER__PROTOCOL": "5",
            "TECWATCH_BROKER__RECONNECT_MAX_S": "2",
            "TECWATCH_STORE__BACKEND": "influxdb", "TECWATCH_STORE__INFLUX_URL": self.influxd.url,
            "TECWATCH_STORE__INFLUX_DATABASE": self.database, "TECWATCH_REGISTRY__URL": self.registry_url,
            "TECWATCH_INGEST__CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}",
            "TECWATCH_INGEST__STORE_RETRY_MAX_S": "2", "TECWATCH_ALERTS__WEBHOOK_SECRET": "reliability",
            "TECWATCH_ALERTS__NOTIFY_BACKOFF_MIN_S": "0.5", "TECWATCH_ALERTS__NOTIFY_BACKOFF_MAX_S": "3",
            "TECWATCH_ALERTS__NOTIFY_MAX_ATTEMPTS": "30",
            "TECWATCH_ALERTS__PATTERN_INTERVAL_S": "3600",  # only immediate alarms in these runs
        }

    def start(self, rate: float = 200.0, press_every_s: float = 2.0) -> PlatformRun:
        self.broker.start()
        if self.own_influxd:
            self.influxd.start()
        self.store = InfluxStore(self.influxd.url, self.database)
        env = self.env()
        ingest = TecwatchProcess(["ingest", "--workers", "2"], self.tmp / "ingest.log", env,
                                 ready_marker=b"subscribing to $share")
        alerts = TecwatchProcess(["alerts"], self.tmp / "alerts.log",
                                 env | {"TECWATCH_DATA_DIR": str(self.tmp / "alerts")} | self.alerts_env,
                                 ready_marker=b"alert engine running")
        self.processes = [ingest, alerts]
        for p in self.processes:
            p.start()
        self.hubs = Hubs(self.tmp, self.broker.host, self.broker.port)
        self.traffic = Traffic(self.hubs, rate=rate, press_every_s=press_every_s).start()
        return self

    def stored(self) -> int:
        return len(self.store.readings(None, FAR_PAST, datetime.now(timezone.utc), limit=10_000_000)) if self.store else 0

    def settle(self, timeout: float = 90) -> None:
        """Stop the traffic and wait until everything sent has arrived (or the timeout)."""
        self.traffic.stop()
        wait_until(lambda: self.hubs.outbox.depth() == 0, 60, "the hubs' outbox to drain")
        expected = sum(self.traffic.readings.values()) + len(self.traffic.presses)
        try:
            wait_until(lambda: self.stored() >= expected and self._delivered() >= len(self.traffic.presses),
                       timeout, "everything sent to arrive", interval=0.5)
        except AssertionError:
            pass  # outcome() says what is missing

    def _delivered(self) -> int:
        return len({d.json()["home_id"] for d in self.webhook.received})

    def outcome(self, name: str) -> Outcome:
        t = self.traffic
        stored = Counter(r.home_id for r in self.store.readings(None, FAR_PAST, datetime.now(timezone.utc),
                                                                limit=10_000_000) if r.device_type != "pendant")
        with Session(self.registry) as s:
            alerts = Counter(s.scalars(select(Alert.home_id).where(Alert.rule == "pendant")))
            failed = s.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.status == NotificationStatus.FAILED))
        delivered = Counter(d.json()["home_id"] for d in self.webhook.received)
        lost = [f"{home}: {n - stored[home]} readings" for home, n in sorted(t.readings.items()) if stored[home] < n]
        lost += [f"{home}: no alert for its press" for home in t.presses if alerts[home] == 0]
        lost += [f"{home}: {alerts[home]} alerts for one press" for home in t.presses if alerts[home] > 1]
        lost += [f"{home}: monitoring centre never notified" for home in t.presses if delivered[home] == 0]
        if failed:
            lost.append(f"{failed} notifications given up")
        return Outcome(name, sum(t.readings.values()), sum(stored.values()), len(t.presses),
                       sum(alerts.values()), sum(1 for h in t.presses if delivered[h]), lost)

    def stop(self) -> None:
        """Stop everything it started; safe to call again."""
        if self.stopped:
            return
        self.stopped = True
        if self.traffic:
            self.traffic.stop()
        if self.hubs:
            self.hubs.close()
        for p in self.processes:
            p.stop()
        self.broker.stop()
        if self.own_influxd:
            self.influxd.stop()
        if self.store:
            self.store.close()
        self.webhook.close()
        self.registry.dispose()
