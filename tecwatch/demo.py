"""``tecwatch demo``: embedded broker + ingest + alert engine + a small simulated feed, printing
what is stored, the alerts raised and the notifications a monitoring centre receives."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tecwatch.alerts.service import list_alerts
from tecwatch.broker import EmbeddedBroker
from tecwatch.ingest.runner import IngestWorker
from tecwatch.localservices import free_port
from tecwatch.registry.models import ContactRoute, EscalationChain, EscalationStep, Responder, ResponderKind
from tecwatch.settings import Settings
from tecwatch.simulators.feed import run_feed

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
    with Session(engine) as s, s.begin():
        centre = s.scalars(select(Responder).where(Responder.name == DEMO_CENTRE)).first()
        if centre is None:
            centre = Responder(name=DEMO_CENTRE, kind=ResponderKind.OPERATOR)
            s.add(centre)
            s.flush()
            chain = EscalationChain(home_id=None, name="demo default")
            s.add(chain)
            s.flush()
            s.add(EscalationStep(chain_id=chain.id, position=1, responder_id=centre.id, wait_minutes=5))
            s.add(ContactRoute(responder_id=centre.id, kind="webhook", target=url))
        else:
            for route in s.scalars(select(ContactRoute).where(ContactRoute.responder_id == centre.id)):
                route.target = url


def run_demo(settings: Settings, homes: int, rate: float, duration: float | None, out=print) -> None:
    broker = settings.broker
    if broker.mode == "embedded" and not _port_free(broker.host, broker.port):
        port = free_port(broker.host)
        out(f"Port {broker.port} is in use; the embedded broker will listen on {port} instead.")
        broker = broker.model_copy(update={"port": port})
    settings = settings.model_copy(update={"broker": broker})

    embedded = EmbeddedBroker(broker.host, broker.port) if broker.mode == "embedded" else None
    if embedded:
        embedded.start()
    worker = IngestWorker(settings)
    centre = _CentreWebhook(settings.alerts.webhook_secret.get_secret_value().encode(), out)
    _demo_escalation(worker.engine, centre.url)
    worker.start()
    stop = threading.Event()
    feed_settings = broker.model_copy(update={"username": "demo-feed"})
    feed = threading.Thread(target=run_feed, args=(feed_settings, homes, rate, stop), daemon=True)
    feed.start()
    out(f"tecwatch demo: broker mqtt://{broker.host}:{broker.port}, store {settings.store.backend} "
        f"({settings.store.sqlite_path if settings.store.backend == 'sqlite' else settings.store.influx_url}), "
        f"{homes} homes at ~{rate:g} msg/s. Ctrl-C to stop.")
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    started = time.monotonic()
    try:
        while duration is None or time.monotonic() - started < duration:
            time.sleep(2)
            until = datetime.now(timezone.utc)
            stored = [r for h in range(1, homes + 1) for r in worker.store.readings(f"home-{h}", since, until)]
            for r in sorted(stored, key=lambda r: r.ts):
                vals = " ".join(f"{k}={v}" for k, v in r.values.items())
                flag = "  ** ALARM **" if r.alarm else ""
                out(f"stored {r.ts:%H:%M:%S.%f}"[:-3] + f" {r.home_id:8} {r.room or '-':9} "
                    f"{r.device_type:12} {vals}{flag}")
            since = until
            out(f"-- {worker.stats().summary()}")
    except KeyboardInterrupt:
        out("stopping...")
    finally:
        stop.set()
        feed.join(5)
        worker.stop()
        centre.close()
        if embedded:
            embedded.stop()
    open_alerts = list_alerts(worker.engine).items
    if open_alerts:
        out(f"Open alerts ({len(open_alerts)}; acknowledge with the API, `tecwatch api`):")
        for a in open_alerts[:5]:
            out(f"  #{a.id} [P{a.priority}] {a.rule} at {a.home_id}: {a.reason} ({a.state}, step {a.escalation_step})")
    rejected = worker.dead_letters.list(limit=3)
    if rejected:
        out("Recent dead letters (rejected messages, kept for inspection):")
        for d in rejected:
            out(f"  {d.received_at:%H:%M:%S} {d.reason}: {d.detail}  [{d.topic}]")
    out(f"Done: {worker.stats().summary()}")
