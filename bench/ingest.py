"""Ingest throughput: readings/s durably stored vs. a bare paho subscriber that only counts.

Starts its own mosquitto and influxd on loopback ports, queues N QoS 1 readings from M homes
for each consumer's persistent session, then times how fast each consumer drains them:

- bare:   paho subscriber, QoS 1 with automatic acks, counting messages (the ceiling);
- ingest: the real ingest (validation, batching, InfluxDB writes, acks after durability).

Usage: python bench/ingest.py [--readings 200000] [--homes 1000] [--store influxdb|sqlite]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from tqdm import tqdm

from tecwatch.ingest.runner import IngestWorker
from tecwatch.localservices import Influxd, Mosquitto
from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings, StoreSettings

DEVICES = (("pir-hall", "motion", "hall"), ("pir-kitchen", "motion", "kitchen"), ("door-front", "door", "hall"),
           ("temp-lounge", "temperature", "lounge"), ("plug-kettle", "plug", "kitchen"))


def payloads(n: int, homes: int) -> list[tuple[str, bytes]]:
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    out = []
    for i in range(n):
        h = i % homes
        dev_id, dtype, room = DEVICES[(i // homes) % len(DEVICES)]
        ts = start + timedelta(milliseconds=i)
        body: dict = {"type": dtype, "ts": ts.isoformat(timespec="milliseconds"), "seq": i, "room": room,
                      "battery": 80.0, "linkquality": 120.0}
        if dtype == "motion":
            body["occupancy"] = bool(i % 2)
        elif dtype == "door":
            body["contact"] = bool(i % 2)
        elif dtype == "temperature":
            body["temperature"] = 18.5
        else:
            body["power"] = 2100.0 if i % 2 else 0.0
        out.append((f"tec/v1/home-{h}/{dev_id}/reading", json.dumps(body).encode()))
    return out


def client(port: int, client_id: str, clean: bool) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                    clean_session=clean)
    c.username_pw_set("bench")
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    return c


def register_session(port: int, client_id: str) -> None:
    """Create a persistent QoS 1 subscription, then go away so the broker queues for it."""
    c = client(port, client_id, clean=False)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe("tec/v1/#", qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def publish(port: int, messages: list[tuple[str, bytes]]) -> float:
    c = client(port, "bench-publisher", clean=True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.perf_counter()
    infos = [c.publish(t, p, qos=1) for t, p in tqdm(messages, desc="publishing", unit="msg", leave=False)]
    for info in infos:
        info.wait_for_publish(120)
    rate = len(messages) / (time.perf_counter() - t0)
    c.disconnect()
    c.loop_stop()
    return rate


def drain_bare(port: int, n: int) -> float:
    received = 0
    done = threading.Event()

    def on_message(_c, _u, _m):
        nonlocal received
        received += 1
        if received >= n:
            done.set()

    c = client(port, "bench-bare", clean=False)
    c.on_message = on_message
    t0 = time.perf_counter()
    c.connect("127.0.0.1", port)
    c.loop_start()
    if not done.wait(600):
        raise SystemExit(f"bare subscriber got only {received}/{n}")
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return n / elapsed


def drain_ingest(settings: Settings, n: int) -> tuple[float, IngestWorker]:
    worker = IngestWorker(settings)
    t0 = time.perf_counter()
    worker.start()
    with tqdm(total=n, desc="ingest stored", unit="rd", leave=False) as bar:
        last = 0
        while (acked := worker.stats().acked) < n:
            bar.update(acked - last)
            last = acked
            if time.perf_counter() - t0 > 900:
                raise SystemExit(f"ingest stored only {acked}/{n}")
            time.sleep(0.05)
        bar.update(acked - last)
    elapsed = time.perf_counter() - t0
    return n / elapsed, worker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--homes", type=int, default=1000)
    ap.add_argument("--store", choices=["influxdb", "sqlite"], default="influxdb")
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    messages = payloads(args.readings, args.homes)

    with tempfile.TemporaryDirectory(prefix="tecwatch-bench-") as tmp, \
            Mosquitto(Path(tmp) / "mosquitto") as broker, Influxd(Path(tmp) / "influxd") as influx:
        settings = Settings(
            broker=BrokerSettings(mode="external", port=broker.port, protocol="3.1.1", username="bench"),
            store=StoreSettings(backend=args.store, influx_url=influx.url, influx_database="bench",
                                sqlite_path=Path(tmp) / "readings.db"),
            registry=RegistrySettings(url=f"sqlite:///{tmp}/registry.db"),
            ingest=IngestSettings(client_id="bench-ingest", batch_max_size=args.batch, stats_interval_s=3600),
        )
        register_session(broker.port, "bench-bare")
        register_session(broker.port, "bench-ingest")
        pub_rate = publish(broker.port, messages)  # queued once for each of the two sessions

        bare = drain_bare(broker.port, args.readings)
        stored, worker = drain_ingest(settings, args.readings)
        stats = worker.stats()
        worker.stop()
        in_store = sum(len(worker.store.readings(f"home-{h}", datetime(2000, 1, 1, tzinfo=timezone.utc),
                                                 datetime.now(timezone.utc), limit=10**7))
                       for h in range(args.homes)) if args.readings <= 50_000 else None

    print(f"readings={args.readings} homes={args.homes} store={args.store} batch={args.batch}")
    print(f"publisher (QoS 1, to broker):           {pub_rate:10,.0f} msg/s")
    print(f"bare paho subscriber (count only):      {bare:10,.0f} msg/s")
    print(f"ingest, durably stored and acked:       {stored:10,.0f} readings/s")
    print(f"ratio ingest / bare:                    {stored / bare:10.2f}")
    print(f"ingest counters: {stats.summary()}")
    if in_store is not None:
        print(f"read back from store: {in_store} of {args.readings}")


if __name__ == "__main__":
    main()
