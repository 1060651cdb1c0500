"""Run simulated homes live: publish each event when the (possibly accelerated) clock reaches it.

Targets: ``platform`` publishes platform messages as the homes' gateways would; ``zigbee2mqtt``
publishes Zigbee2MQTT state messages to a hub's local broker, for a real gateway to forward.

An accelerated clock starts in the past and never runs ahead of real time: event times stay
believable to the platform, and once it has caught up the homes carry on in real time.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

from tecwatch.mqtt import BrokerConnection
from tecwatch.settings import BrokerSettings
from tecwatch.simulators.encode import PlatformEncoder, WireMessage, Zigbee2MqttEncoder
from tecwatch.simulators.home import SimHome
from tecwatch.simulators.routine import DeviceEvent, simulate_day
from tecwatch.simulators.scenarios import GroundTruth, Scenario, check_scenarios, write_truths

log = logging.getLogger(__name__)

Target = Literal["platform", "zigbee2mqtt"]


@dataclass(frozen=True)
class SimClock:
    """Simulated time: ``start`` plus ``speed`` times the wall time since ``started``, but never
    later than the real time."""

    start: datetime
    speed: float
    started: float = field(default_factory=time.monotonic)

    def _unclamped(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.started) * self.speed)

    def now(self) -> datetime:
        return min(self._unclamped(), datetime.now(timezone.utc))

    def wall_seconds_until(self, ts: datetime) -> float:
        """Roughly how long to sleep before the clock reaches ``ts``."""
        ahead = (ts - self.now()).total_seconds()
        real_ahead = (ts - datetime.now(timezone.utc)).total_seconds()
        return max(0.0, ahead / self.speed, real_ahead)


@dataclass
class LiveResult:
    published: int = 0
    events: int = 0
    truths: list[GroundTruth] = field(default_factory=list)


def default_start(speed: float, days_back: float, now: datetime | None = None) -> datetime:
    """Real time starts now; an accelerated run replays the last ``days_back`` days first."""
    now = now or datetime.now(timezone.utc)
    return now if speed <= 1 else now - timedelta(days=days_back)


def _events_from(homes: Sequence[SimHome], first_day: date, days: int | None, seed: int,
                 scenarios: Sequence[Scenario], heartbeat_s: int,
                 on_truth: Callable[[list[GroundTruth]], None]) -> Iterator[tuple[SimHome, DeviceEvent]]:
    """Every home's events in time order, a day at a time (forever when ``days`` is None)."""
    day_number = 1
    while days is None or day_number <= days:
        day = first_day + timedelta(days=day_number - 1)
        streams = []
        truths: list[GroundTruth] = []
        for n, home in enumerate(homes):
            events, home_truths = simulate_day(home, day_number, day, seed, scenarios, heartbeat_s)
            truths += home_truths
            streams.append([(e.ts, n, i, e) for i, e in enumerate(events)])
        on_truth(truths)
        for _ts, n, _i, event in heapq.merge(*streams):
            yield homes[n], event
        day_number += 1


def run_live(
    broker: BrokerSettings,
    homes: Sequence[SimHome],
    *,
    seed: int,
    stop: threading.Event,
    scenarios: Sequence[Scenario] = (),
    target: Target = "platform",
    speed: float = 1.0,
    start: datetime | None = None,
    days: int | None = None,
    heartbeat_s: int = 60,
    base_topic: str = "zigbee2mqtt",
    truth_path: Path | None = None,
    out: Callable[[str], None] = print,
    client_id: str | None = None,
    on_caught_up: Callable[[], None] | None = None,
) -> LiveResult:
    """Publish until ``stop`` is set or ``days`` simulated days are done."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    if target == "zigbee2mqtt" and len(homes) != 1:
        raise ValueError("the zigbee2mqtt target simulates one hub: use --homes 1")
    # Without an end, any day is in the simulation.
    check_scenarios(scenarios, homes, days if days is not None else max((s.day for s in scenarios), default=1))
    if target == "zigbee2mqtt" and any(s.kind == "hub_offline" for s in scenarios):
        raise ValueError("hub_offline is the gateway going away; with the zigbee2mqtt target, stop the gateway instead")
    clock = SimClock(start or default_start(speed, 1.0), speed)
    first_day = clock.start.astimezone(ZoneInfo(homes[0].tz)).date()
    result = LiveResult()

    def on_truth(truths: list[GroundTruth]) -> None:
        result.truths += truths
        for t in truths:
            out(f"scenario {t.summary()}")
        if truth_path is not None:
            write_truths(truth_path, result.truths)

    platform, z2m = PlatformEncoder(), Zigbee2MqttEncoder(base_topic)

    def encode(home: SimHome, event: DeviceEvent) -> list[WireMessage]:
        return [platform.encode(home, event)] if target == "platform" else z2m.encode(home, event)

    conn = BrokerConnection(broker, client_id or f"tecwatch-sim-{seed}", persistent=False)
    conn.client.max_inflight_messages_set(1000)
    conn.start()
    last: mqtt.MQTTMessageInfo | None = None
    caught_up = False
    next_report = clock.start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    out(f"simulating {len(homes)} homes from {clock.start:%Y-%m-%d %H:%M} UTC at {speed:g}x -> {target}")
    try:
        for home, event in _events_from(homes, first_day, days, seed, scenarios, heartbeat_s, on_truth):
            if event.ts < clock.start:
                continue  # earlier that day than the simulation's start
            # Caught up once the events go out as they happen, every earlier one out before them;
            # not merely once the clock has caught up: a replay that publishes slower than its
            # speed (a busy machine) is still behind then.
            live = event.ts > datetime.now(timezone.utc)
            while (wait := clock.wall_seconds_until(event.ts)) > 0:
                if stop.wait(min(wait, 0.5)):
                    return result
            if stop.is_set():
                return result
            for msg in encode(home, event):
                last = conn.client.publish(msg.topic, msg.payload, qos=1)
                result.published += 1
            result.events += 1
            if not caught_up and (speed <= 1 or live):
                caught_up = True
                if speed > 1:
                    out(f"caught up with real time after {result.published} messages; carrying on in real time")
                if on_caught_up is not None:
                    on_caught_up()
            if event.ts >= next_report:
                out(f"{event.ts:%Y-%m-%d %H:%M} UTC: {result.published} messages published")
                next_report += timedelta(hours=max(1, round(speed / 600)))
    finally:
        if last is not None and conn.client.is_connected():
            try:
                last.wait_for_publish(timeout=10)
            except RuntimeError:
                pass
        conn.stop()
    return result
