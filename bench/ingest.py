"""Ingest throughput: readings/s durably stored vs. a bare paho subscriber that only counts.

Starts its own mosquitto and influxd on loopback ports, queues N QoS 1 readings from M homes
for each consumer's persistent session, then times how fast each consumer drains them:

- bare:   one paho subscriber, QoS 1 with automatic acks, counting messages (the ceiling of
          one Python MQTT client on this machine);
- ingest: `tecwatch ingest --workers W` processes on one shared subscription, doing the real
          work (validation, batching, InfluxDB writes, acks only after durability). The rate
          is read from InfluxDB itself: points stored per second, first to last.

With --delivery it also times the whole path from a gateway's outbox: readings queued in an
outbox on disk, published by the gateway's forwarder (MQTT 5), stored by one ingest worker, and
(a) removed from the outbox when the broker acknowledges them, as before confirmations, or
(b) kept until ingest confirms it stored them; it prints readings/s for both and their ratio.

Usage: python bench/ingest.py [--readings 200000] [--homes 1000] [--workers 1 2] [--delivery]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from tqdm import tqdm

from tecwatch.devices import DEVICE_TYPES
from tecwatch.store import InfluxStore
from tecwatch.localservices import Influxd, Mosquitto

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
                      "linkquality": 120.0}
        if DEVICE_TYPES[dtype].battery_powered:
            body["battery"] = 80.0
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


def register_session(port: int, client_id: str, topic_filter: str = "tec/v1/#") -> None:
    """Create a persistent QoS 1 subscription, then go away so the broker queues for it."""
    c = client(port, client_id, clean=False)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe(topic_filter, qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def publish(port: int, messages: list[tuple[str, bytes]]) -> float:
    c = client(port, "bench-publisher", clean=True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.perf_counter()
    infos: list[mqtt.MQTTMessageInfo] = []
    for i, (topic, payload) in enumerate(tqdm(messages, desc="publishing", unit="msg", leave=False)):
        if i % 20_000 == 0:  # packet ids are 16-bit: never have more than 65,535 outstanding
            for info in infos:
                info.wait_for_publish(120)
            infos.clear()
        infos.append(c.publish(topic, payload, qos=1))
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


def register_ingest_sessions(port: int, client_id: str, workers: int) -> None:
    """The sessions `tecwatch ingest --workers N` will use (one plain, or N shared)."""
    if workers == 1:
        register_session(port, client_id)
    for i in range(workers if workers > 1 else 0):
        register_session(port, f"{client_id}-{i}", f"$share/{client_id}/tec/v1/#")


def drain_ingest(env: dict[str, str], store: InfluxStore, n: int, workers: int) -> tuple[float, float]:
    """Run the ingest processes until all n readings are in InfluxDB; (readings/s, cpu s/reading)."""
    proc = subprocess.Popen([sys.executable, "-m", "tecwatch", "ingest", "--workers", str(workers)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first_at = first_count = None
    try:
        with tqdm(total=n, desc=f"ingest x{workers} stored", unit="rd", leave=False) as bar:
            count = 0
            while count < n:
                if proc.poll() is not None:
                    raise SystemExit(f"ingest exited early:\n{proc.stderr.read()[-2000:]}")
                time.sleep(0.1)
                series = store.query('SELECT count("activity") FROM "reading"')
                new = series[0]["values"][0][1] if series else 0
                if new and first_at is None:
                    first_at, first_count = time.perf_counter(), new
                bar.update(new - count)
                count = new
            done_at = time.perf_counter()
        cpu = _tree_cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
    return (n - first_count) / (done_at - first_at), cpu / n


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and its children (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def delivery(broker: Mosquitto, influx: Influxd, tmp: str, messages: list[tuple[str, bytes]],
             confirmed: bool) -> float:
    """Readings/s from a gateway outbox until every one is stored (and, if ``confirmed``, the
    outbox has heard so from ingest and is empty)."""
    from tecwatch.devices.payloads import confirm_topic, parse_confirmation
    from tecwatch.gateway.forwarder import Forwarder
    from tecwatch.gateway.outbox import Outbox

    name = "confirmed" if confirmed else "acked"
    database = f"bench_delivery_{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
        "TECWATCH_BROKER__MODE": "external", "TECWATCH_BROKER__PORT": str(broker.port),
        "TECWATCH_BROKER__PROTOCOL": "5", "TECWATCH_BROKER__USERNAME": "bench",
        "TECWATCH_STORE__BACKEND": "influxdb", "TECWATCH_STORE__INFLUX_URL": influx.url,
        "TECWATCH_STORE__INFLUX_DATABASE": database, "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp}/registry.db",
        "TECWATCH_DATA_DIR": f"{tmp}/data-{name}", "TECWATCH_INGEST__CLIENT_ID": f"bench-delivery-{name}",
        "TECWATCH_INGEST__STATS_INTERVAL_S": "3600", "TECWATCH_INGEST__CONFIRM_TO_GATEWAYS": str(confirmed).lower(),
    }
    outbox = Outbox(Path(tmp) / f"outbox-{name}.db", max_messages=len(messages) + 10)
    for topic, payload in tqdm(messages, desc=f"filling the outbox ({name})", unit="msg", leave=False):
        if confirmed:
            body = json.loads(payload)
            outbox.put_sequenced(lambda seq, t=topic, b=body: (t, json.dumps(b | {"seq": seq}).encode(), False))
        else:
            outbox.put(topic, payload)
    log = Path(tmp) / f"ingest-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tecwatch", "ingest"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-gateway-{name}", protocol=mqtt.MQTTv5)
    c.username_pw_set("bench")
    c.max_inflight_messages_set(2000)
    forwarder = Forwarder(outbox, c, max_in_flight=2000)
    c.on_publish = forwarder.on_publish
    c.on_message = lambda _c, _u, m: forwarder.on_confirm(parse_confirmation(m.payload) or [])
    c.on_connect = lambda client, *_a: (client.subscribe(confirm_topic("+"), qos=1), forwarder.notify())
    store = InfluxStore(influx.url, database)
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while b"subscrib" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"ingest did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        t0 = time.perf_counter()
        thread = threading.Thread(target=forwarder.run, args=(stop, 0.05), daemon=True)
        thread.start()
        with tqdm(total=len(messages), desc=f"delivered ({name})", unit="rd", leave=False) as bar:
            stored = 0
            while stored < len(messages) or outbox.depth():
                time.sleep(0.1)
                series = store.query('SELECT count("activity") FROM "reading"')
                new = series[0]["values"][0][1] if series else 0
                bar.update(new - stored)
                stored = new
        return len(messages) / (time.perf_counter() - t0)
    finally:
        stop.set()
        c.disconnect()
        c.loop_stop()
        proc.terminate()
        proc.wait(60)
        store.close()
        outbox.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=200_000)
    ap.add_argument("--homes", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="ingest worker counts to measure")
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--delivery", action="store_true", help="also time the path from a gateway outbox, "
                    "acknowledged by the broker against confirmed by ingest")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    messages = payloads(args.readings, args.homes)
    results = []
    with tempfile.TemporaryDirectory(prefix="tecwatch-bench-") as tmp, \
            Mosquitto(Path(tmp) / "mosquitto") as broker, Influxd(Path(tmp) / "influxd") as influx:
        register_session(broker.port, "bench-bare")
        print(f"publisher (QoS 1, to broker): {publish(broker.port, messages):,.0f} msg/s", flush=True)
        bare = drain_bare(broker.port, args.readings)
        print(f"bare paho subscriber (count only): {bare:,.0f} msg/s", flush=True)
        for workers in args.workers:
            database = f"bench_{workers}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
                "TECWATCH_BROKER__MODE": "external",
                "TECWATCH_BROKER__PORT": str(broker.port),
                "TECWATCH_BROKER__USERNAME": "bench",
                "TECWATCH_STORE__BACKEND": "influxdb",
                "TECWATCH_STORE__INFLUX_URL": influx.url,
                "TECWATCH_STORE__INFLUX_DATABASE": database,
                "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp}/registry.db",
                "TECWATCH_INGEST__CLIENT_ID": f"bench-ingest-{workers}",
                "TECWATCH_INGEST__BATCH_MAX_SIZE": str(args.batch),
                "TECWATCH_INGEST__STATS_INTERVAL_S": "3600",
            }
            register_ingest_sessions(broker.port, f"bench-ingest-{workers}", workers)
            publish(broker.port, messages)
            store = InfluxStore(influx.url, database)
            rate, cpu = drain_ingest(env, store, args.readings, workers)
            store.close()
            results.append((workers, rate, cpu))
            print(f"ingest x{workers}: {rate:,.0f} readings/s stored", flush=True)
        paths = {confirmed: delivery(broker, influx, tmp, messages, confirmed)
                 for confirmed in ((False, True) if args.delivery else ())}

    print(f"\nreadings={args.readings:,} homes={args.homes:,} batch={args.batch} cores={os.cpu_count()}")
    print(f"{'consumer':34} {'per second':>12} {'ratio to bare':>14} {'ingest CPU/reading':>19}")
    print(f"{'bare paho subscriber (count only)':34} {bare:12,.0f} {1:14.2f}")
    for workers, rate, cpu in results:
        label = f"ingest, {workers} worker{'s' if workers > 1 else ''} (stored in InfluxDB)"
        print(f"{label:34} {rate:12,.0f} {rate / bare:14.2f} {cpu * 1e6:16.1f} us")
    if paths:
        print("\nfrom a gateway outbox to InfluxDB, one ingest worker:")
        print(f"  removed when the broker acknowledges:   {paths[False]:9,.0f} readings/s")
        print(f"  kept until ingest confirms it stored it: {paths[True]:9,.0f} readings/s "
              f"(ratio {paths[True] / paths[False]:.2f}; the confirmation costs {1 - paths[True] / paths[False]:.0%})")


if __name__ == "__main__":
    main()
