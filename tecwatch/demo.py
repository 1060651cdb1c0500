"""``tecwatch demo``: embedded broker + ingest + a small simulated feed, printing what is stored."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

from tecwatch.broker import EmbeddedBroker
from tecwatch.ingest.runner import IngestWorker
from tecwatch.localservices import free_port
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
        if embedded:
            embedded.stop()
    rejected = worker.dead_letters.list(limit=3)
    if rejected:
        out("Recent dead letters (rejected messages, kept for inspection):")
        for d in rejected:
            out(f"  {d.received_at:%H:%M:%S} {d.reason}: {d.detail}  [{d.topic}]")
    out(f"Done: {worker.stats().summary()}")
