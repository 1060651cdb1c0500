"""Simulated device events -> what goes on the wire or into the store.

Three forms: platform messages (as a gateway publishes them), Zigbee2MQTT state messages (as
Zigbee2MQTT publishes them on a hub's local broker, for testing a real gateway), and stored
``Reading`` objects (for backfill, which skips the broker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tecwatch.devices import Reading, make_reading, platform_message
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID, Value
from tecwatch.devices.payloads import route
from tecwatch.simulators.home import SimHome
from tecwatch.simulators.routine import DeviceEvent


@dataclass(frozen=True)
class WireMessage:
    topic: str
    payload: bytes


def _device(home: SimHome, device_id: str) -> tuple[str, str | None]:
    if device_id == GATEWAY_DEVICE_ID:
        return "gateway", None
    d = home.device(device_id)
    if d is None:
        raise KeyError(f"{home.home_id} has no device {device_id!r}")
    return d.device_type, d.room


@dataclass
class PlatformEncoder:
    """Platform messages, with a per-home sequence number like a gateway's."""

    seq: dict[str, int] = field(default_factory=dict)

    def next_seq(self, home_id: str) -> int:
        self.seq[home_id] = n = self.seq.get(home_id, 0) + 1
        return n

    def encode(self, home: SimHome, event: DeviceEvent) -> WireMessage:
        device_type, room = _device(home, event.device_id)
        msg = platform_message(
            home_id=home.home_id, device_id=event.device_id, device_type=device_type,
            ts=event.ts, seq=self.next_seq(home.home_id), room=room, values=event.values,
        )
        return WireMessage(msg.topic, msg.payload)

    def reading(self, home: SimHome, event: DeviceEvent) -> Reading:
        device_type, room = _device(home, event.device_id)
        channel, _alarm = route(device_type, event.values)
        return make_reading(
            home_id=home.home_id, device_id=event.device_id, device_type=device_type, channel=channel,
            ts=event.ts, seq=self.next_seq(home.home_id), room=room, values=dict(event.values),
        )


# Platform value -> what Zigbee2MQTT devices actually send.
_Z2M_ACTION = {"press": "single", "cancel": "off", "fall": "fall"}


@dataclass
class Zigbee2MqttEncoder:
    """Zigbee2MQTT state messages for one hub: the device's whole state each time, numbers as
    devices send them, ``last_seen`` in ISO 8601, and the empty ``action`` after a press."""

    base_topic: str = "zigbee2mqtt"
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    def encode(self, home: SimHome, event: DeviceEvent) -> list[WireMessage]:
        if event.device_id == GATEWAY_DEVICE_ID:
            return []  # the gateway makes its own heartbeats
        device = home.device(event.device_id)
        if device is None:
            raise KeyError(f"{home.home_id} has no device {event.device_id!r}")
        topic = f"{self.base_topic}/{device.friendly_name}"
        state = self.state.setdefault(device.friendly_name, {"linkquality": 96 + home.index % 80})
        for name, value in event.values.items():
            state[name] = self._z2m_value(name, value)
        if "battery" in state:
            # Xiaomi-style devices report their cell voltage alongside the percentage.
            state["voltage"] = int(2700 + 3.3 * float(state["battery"]))
        state["last_seen"] = event.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if device.device_type == "plug":
            state["state"] = "ON" if float(state.get("power", 0)) >= 1 else "OFF"
        messages = [WireMessage(topic, json.dumps(state).encode())]
        if "action" in event.values:
            # Zigbee2MQTT clears the action straight after publishing it.
            state["action"] = ""
            messages.append(WireMessage(topic, json.dumps(state).encode()))
            del state["action"]
        return messages

    @staticmethod
    def _z2m_value(name: str, value: Value) -> Any:
        if name == "action":
            return _Z2M_ACTION.get(str(value), value)
        if name == "battery":
            return int(round(float(value)))  # devices report whole percent
        return value
