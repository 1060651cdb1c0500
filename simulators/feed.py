"""A small live feed of platform messages from a few homes, for the demo and smoke tests.

Each home has a handful of sensors that report with a little randomness; now and then a
pendant is pressed, and one deliberately malformed message shows dead-lettering.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from tecwatch.mqtt import BrokerConnection
from tecwatch.settings import BrokerSettings

# (device_id, device type, room)
HOME_DEVICES: tuple[tuple[str, str, str], ...] = (
    ("pir-hall", "motion", "hall"),
    ("pir-kitchen", "motion", "kitchen"),
    ("pir-lounge", "motion", "lounge"),
    ("pir-bathroom", "motion", "bathroom"),
    ("door-front", "door", "hall"),
    ("bed-1", "bed", "bedroom"),
    ("plug-kettle", "plug", "kitchen"),
    ("temp-lounge", "temperature", "lounge"),
    ("pendant-1", "pendant", "lounge"),
)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes


def _values(device_type: str, rng: random.Random) -> dict:
    if device_type == "motion":
        return {"occupancy": rng.random() < 0.7}
    if device_type == "door":
        return {"contact": rng.random() < 0.5}
    if device_type == "bed":
        return {"occupancy": rng.random() < 0.5}
    if device_type == "plug":
        return {"power": rng.choice([0.0, 0.0, 2200.0])}
    if device_type == "temperature":
        return {"temperature": round(rng.uniform(17, 22), 1), "humidity": round(rng.uniform(40, 60), 1)}
    return {"action": "press"}


def messages(homes: int, seed: int = 1, pendant_every: int = 400, bad_every: int = 250) -> Iterator[Message]:
    """An endless, reproducible stream of messages stamped with the current time."""
    rng = random.Random(seed)
    seq = [0] * homes
    n = 0
    sensors = [d for d in HOME_DEVICES if d[1] != "pendant"]
    while True:
        n += 1
        h = rng.randrange(homes)
        home_id = f"home-{h + 1}"
        seq[h] += 1
        if bad_every and n % bad_every == 0:
            yield Message(f"tec/v1/{home_id}/temp-lounge/reading", b'{"type":"temperature","temperature":"warm"}')
            continue
        device_id, dtype, room = ("pendant-1", "pendant", "lounge") if n % pendant_every == 0 else rng.choice(sensors)
        body = {
            "type": dtype,
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "seq": seq[h],
            "room": room,
            **_values(dtype, rng),
            "battery": float(rng.randint(60, 100)),
        }
        channel = "event" if dtype == "pendant" else "reading"
        yield Message(f"tec/v1/{home_id}/{device_id}/{channel}", json.dumps(body).encode())


def run_feed(broker: BrokerSettings, homes: int, rate_per_s: float, stop: threading.Event, seed: int = 1) -> int:
    """Publish at about ``rate_per_s`` until ``stop`` is set; returns how many were published."""
    conn = BrokerConnection(broker, f"tecwatch-demo-feed-{seed}", persistent=False)
    conn.start()
    published = 0
    try:
        for msg in messages(homes, seed):
            if stop.wait(1.0 / rate_per_s):
                break
            conn.client.publish(msg.topic, msg.payload, qos=1)
            published += 1
    finally:
        conn.stop()
    return published
