"""What Mosquitto's persistence settings cost at 5,000 messages/s.

Mosquitto keeps messages in memory and writes its whole store to disk every ``autosave_interval``
seconds, or, with ``autosave_on_changes true``, every ``autosave_interval`` changes. A broker
that crashes loses what it took since its last save. This starts mosquitto with each setting,
publishes QoS 1 readings at --rate for --seconds to a persistent session that is offline (so
the queue, and each save, keeps growing, as while ingest is down), and prints the broker's CPU
time, the time it spent saving, and the publisher's acknowledged rate.

Usage: python bench/autosave.py [--rate 5000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from tecwatch.localservices import Mosquitto

SETTINGS = {
    "every 30 s (deploy before)": ["autosave_interval 30"],
    "every 5 s": ["autosave_interval 5"],
    "every 1 s": ["autosave_interval 1"],
    "every 10,000 changes": ["autosave_on_changes true", "autosave_interval 10000"],
    "every 1,000 changes": ["autosave_on_changes true", "autosave_interval 1000"],
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queue_for_offline_session(port: int) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="offline-ingest", protocol=mqtt.MQTTv311,
                    clean_session=False)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe("tec/v1/#", qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def publish(port: int, rate: int, seconds: float) -> float:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-hub", protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos, sent, t0 = [], 0, time.perf_counter()
    payload = b'{"type":"temperature","ts":"2026-12-02T10:00:00.000Z","seq":1,"temperature":19.5}'
    while time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            infos.append(c.publish(f"tec/v1/home-{sent % 500}/temp-1/reading", payload, qos=1))
            sent += 1
        time.sleep(0.002)
    for info in infos:
        info.wait_for_publish(120)
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return sent / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    rows = []
    for name, config in SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="tecwatch-autosave-") as tmp:
            broker = Mosquitto(Path(tmp) / "mosquitto", extra_config=[*config, "log_type information"],
                               autosave_interval_s=0)
            # The base config's own autosave_interval line comes first; the extra lines win.
            with broker:
                queue_for_offline_session(broker.port)
                before = cpu_seconds(broker.pid)
                acked = publish(broker.port, args.rate, args.seconds)
                cpu = cpu_seconds(broker.pid) - before
                saves = broker.log_path.read_text().count("Saving in-memory database")
                size = sum(f.stat().st_size for f in (Path(tmp) / "mosquitto" / "data").glob("*.db"))
        rows.append((name, cpu, acked, saves, size))
        print(f"{name:28} broker CPU {cpu:6.2f} s ({cpu / args.seconds:5.0%} of a core)  acked {acked:7,.0f} msg/s",
              flush=True)
    print(f"\n{args.rate:,} msg/s for {args.seconds:.0f} s into an offline persistent session "
          f"({args.rate * args.seconds:,.0f} messages queued):")
    print(f"{'autosave':28} {'broker CPU':>11} {'ratio':>6} {'acked msg/s':>12} {'saves':>6} {'store MB':>9}")
    base = rows[0][1]
    for name, cpu, acked, saves, size in rows:
        print(f"{name:28} {cpu:10.2f}s {cpu / base:6.2f} {acked:12,.0f} {saves:6} {size / 1e6:9.1f}")


if __name__ == "__main__":
    main()
