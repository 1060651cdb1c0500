"""One home floods; how fast is another home's alarm raised?

Starts its own mosquitto and influxd on loopback ports and a database on the local PostgreSQL,
runs `tecwatch ingest` (one worker, MQTT 5, as in production) with the alert engine, and
measures the time from a pendant press leaving a publisher to its alert row being committed,
for presses from other homes:

- quiet: a press every 100 ms from a different home each time, nothing else going on;
- flood: the same, while one home publishes pendant presses (or readings) at --rate msg/s.

Prints p50, p99 and the worst press-to-alert time for each phase, their ratio, and what became
of the flood (one alert and its repeats, or readings stored).

Usage: python bench/flood.py [--rate 5000] [--seconds 20] [--kind presses|readings]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from sqlalchemy import create_engine, text

from tecwatch.localservices import Influxd, Mosquitto

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def press(home: str, seq: int, at: datetime | None = None) -> tuple[str, bytes]:
    at = at or datetime.now(timezone.utc)
    body = {"type": "pendant", "ts": at.isoformat(timespec="milliseconds"), "seq": seq, "action": "press"}
    return f"tec/v1/{home}/pendant-1/event", json.dumps(body).encode()


def reading(home: str, seq: int) -> tuple[str, bytes]:
    body = {"type": "motion", "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "seq": seq,
            "occupancy": bool(seq % 2)}
    return f"tec/v1/{home}/pir-{seq % 5}/reading", json.dumps(body).encode()


def publisher(port: int, name: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    c.username_pw_set(name)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def flood(port: int, kind: str, rate: int, seconds: float, stop: threading.Event) -> int:
    """Publish at ``rate`` messages/s from one home until ``seconds`` pass; returns how many."""
    c = publisher(port, "flooding-home")
    sent, t0 = 0, time.perf_counter()
    # Each press a millisecond after the last, ending about now: distinct events, none in the future.
    base = datetime.now(timezone.utc) - timedelta(milliseconds=rate * seconds)
    while not stop.is_set() and time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            topic, payload = (press("home-flood", sent, base + timedelta(milliseconds=sent))
                              if kind == "presses" else reading("home-flood", sent))
            c.publish(topic, payload, qos=1)
            sent += 1
        time.sleep(0.002)
    c.disconnect()
    c.loop_stop()
    return sent


def presses_from_other_homes(port: int, phase: str, count: int, every_s: float) -> dict[str, float]:
    """A press from a new home every ``every_s``; returns home -> wall-clock time it was sent."""
    c = publisher(port, f"other-homes-{phase}")
    sent: dict[str, float] = {}
    for i in range(count):
        home = f"home-{phase}-{i}"
        topic, payload = press(home, i)
        sent[home] = time.time()
        c.publish(topic, payload, qos=1)
        time.sleep(every_s)
    c.disconnect()
    c.loop_stop()
    return sent


def latencies(registry, sent: dict[str, float], timeout_s: float = 120) -> list[float]:
    """Seconds from each press to its alert's commit (raised_at), once every alert is there."""
    deadline = time.monotonic() + timeout_s
    while True:
        with registry.connect() as conn:
            rows = dict(conn.execute(text("SELECT home_id, raised_at FROM alerts WHERE rule = 'pendant' "
                                          "AND home_id = ANY(:homes)"), {"homes": list(sent)}).all())
        if len(rows) == len(sent) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = set(sent) - set(rows)
    if missing:
        raise SystemExit(f"{len(missing)} presses raised no alert in {timeout_s} s")
    return sorted(rows[h].timestamp() - t for h, t in sent.items())


def describe(name: str, values: list[float]) -> str:
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (f"{name:26} p50 {statistics.median(values) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   "
            f"worst {values[-1] * 1000:7.1f} ms   ({len(values)} presses)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=5000, help="the flooding home's messages per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long the flood lasts")
    ap.add_argument("--kind", choices=("presses", "readings"), default="presses")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    database = f"tecwatch_flood_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    try:
        with tempfile.TemporaryDirectory(prefix="tecwatch-flood-") as tmp, \
                Mosquitto(Path(tmp) / "mosquitto") as broker, Influxd(Path(tmp) / "influxd") as influx:
            env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
                "TECWATCH_BROKER__MODE": "external", "TECWATCH_BROKER__PORT": str(broker.port),
                "TECWATCH_BROKER__PROTOCOL": "5", "TECWATCH_STORE__BACKEND": "influxdb",
                "TECWATCH_STORE__INFLUX_URL": influx.url, "TECWATCH_REGISTRY__URL": url,
                "TECWATCH_DATA_DIR": f"{tmp}/data", "TECWATCH_INGEST__STATS_INTERVAL_S": "5",
            }
            log = Path(tmp) / "ingest.log"
            with log.open("wb") as out:
                ingest = subprocess.Popen([sys.executable, "-m", "tecwatch", "ingest"], env=env, stdout=out,
                                          stderr=subprocess.STDOUT)
            registry = create_engine(url)
            try:
                deadline = time.monotonic() + 30
                while b"subscribing" not in log.read_bytes():
                    if time.monotonic() > deadline or ingest.poll() is not None:
                        raise SystemExit(f"ingest did not start:\n{log.read_text()[-2000:]}")
                    time.sleep(0.1)
                quiet = latencies(registry, presses_from_other_homes(broker.port, "quiet", 50, 0.1))
                print(describe("quiet", quiet), flush=True)
                stop = threading.Event()
                flooded: list[int] = []
                flooder = threading.Thread(target=lambda: flooded.append(
                    flood(broker.port, args.kind, args.rate, args.seconds, stop)))
                flooder.start()
                time.sleep(2.0)  # well into the flood
                others = presses_from_other_homes(broker.port, "flood", int((args.seconds - 4) / 0.1), 0.1)
                flooder.join()
                during = latencies(registry, others)
                print(describe(f"while one home sends {args.rate:,}/s", during), flush=True)
                flood_alerts, deadline = None, time.monotonic() + 60
                while time.monotonic() < deadline:  # until the flood's last presses are handled too
                    with registry.connect() as conn:
                        now = conn.execute(text("SELECT count(*), coalesce(sum(repeats), 0) FROM alerts "
                                                "WHERE home_id = 'home-flood'")).one()
                    if now == flood_alerts:
                        break
                    flood_alerts = now
                    time.sleep(2)
            finally:
                ingest.terminate()
                ingest.wait(60)
                registry.dispose()
            lines = log.read_text().splitlines()
            summary = [line for line in lines if "ingest worker stopped" in line]
            copies = sum("handled before" in line for line in lines)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')

    p99 = lambda v: v[min(len(v) - 1, int(len(v) * 0.99))]  # noqa: E731
    print(f"\nflood: {flooded[0]:,} {args.kind} from one home in {args.seconds:.0f} s "
          f"({flooded[0] / args.seconds:,.0f}/s); its alerts: {flood_alerts[0]} with {flood_alerts[1]:,} repeats; "
          f"{copies:,} presses taken as copies of one already handled")
    print(f"another home's press-to-alert p99: {p99(during) * 1000:.0f} ms during the flood, "
          f"{p99(quiet) * 1000:.0f} ms quiet (ratio {p99(during) / p99(quiet):.1f}); target under 200 ms")
    if summary:
        print(summary[-1].split("ingest worker stopped: ")[-1])


if __name__ == "__main__":
    main()
