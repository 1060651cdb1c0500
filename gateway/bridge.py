"""Zigbee2MQTT messages on the hub's local broker -> sequenced platform messages in the outbox.

One call per local message. Nothing here touches the network: the outbox is the hand-over to
the forwarder, and the bridge's view of Zigbee2MQTT (bridge state, offline devices) feeds the
gateway heartbeat.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tecwatch.devices import platform_message
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID, TEXT_MAX_LENGTH
from tecwatch.gateway.config import ConfiguredDevice, GatewayConfig
from tecwatch.gateway.outbox import Outbox
from tecwatch.gateway.zigbee import Skipped, action_rules, availability, translate

log = logging.getLogger(__name__)

_AVAILABILITY = "/availability"


class Outcome(StrEnum):
    QUEUED = "queued"  # a platform message is in the outbox
    SKIPPED = "skipped"  # a configured device's message had nothing to report (e.g. empty action)
    UNKNOWN_DEVICE = "unknown_device"  # not in the config: logged once per name, counted
    UNPARSEABLE = "unparseable"  # not JSON, or not an object
    RETAINED_REPLAY = "retained_replay"  # an old state the local broker replays on subscribe
    AVAILABILITY = "availability"
    BRIDGE_STATE = "bridge_state"
    IGNORED = "ignored"  # other bridge topics, /set and /get commands


# Problems with messages that were still forwarded (or skipped), counted since start and
# carried in the heartbeat under these names.
UNKNOWN_ACTIONS = "unknown_actions"  # an action the device's config does not map to help/cancel
BAD_LAST_SEEN = "bad_last_seen"  # an implausible last_seen, replaced by the gateway's clock


def utc_now() -> datetime:
    return datetime.now(UTC)


class ZigbeeBridge:
    def __init__(
        self,
        config: GatewayConfig,
        outbox: Outbox,
        clock: Callable[[], datetime] = utc_now,
        on_change: Callable[[], None] = lambda: None,
    ):
        self.home_id = config.home_id
        self._outbox = outbox
        self._clock = clock
        # Called when the bridge state or a device's availability changes (heartbeat now).
        self._on_change = on_change
        self._prefix = config.local.base_topic + "/"
        self._devices = {d.friendly_name: d for d in config.devices}
        self._actions = {d.device_id: action_rules(d.type, d.help_actions, d.cancel_actions) for d in config.devices}
        self._lock = threading.Lock()
        self._counts: Counter[Outcome] = Counter()
        self._problems: Counter[str] = Counter()
        self._warned: set[tuple[str, str]] = set()
        self._offline: set[str] = set()
        self._zigbee_online: bool | None = None

    def handle(self, topic: str, payload: bytes, retained: bool = False) -> Outcome:
        """Deal with one message from the local broker; never raises for bad input."""
        outcome = self._handle(topic, payload, retained)
        with self._lock:
            self._counts[outcome] += 1
        return outcome

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {o.value: self._counts[o] for o in Outcome}

    def problems(self) -> dict[str, int]:
        with self._lock:
            return {k: self._problems[k] for k in (UNKNOWN_ACTIONS, BAD_LAST_SEEN)}

    def status_values(self) -> dict[str, Any]:
        """What the heartbeat says about the Zigbee side."""
        with self._lock:
            offline = sorted(self._offline)
            values: dict[str, Any] = {
                "devices_offline": float(len(offline)),
                # Always sent, empty when none, so the latest heartbeat never shows a stale list.
                "offline_devices": _id_list(offline, TEXT_MAX_LENGTH),
                UNKNOWN_ACTIONS: float(self._problems[UNKNOWN_ACTIONS]),
                BAD_LAST_SEEN: float(self._problems[BAD_LAST_SEEN]),
            }
            if self._zigbee_online is not None:
                values["zigbee"] = "online" if self._zigbee_online else "offline"
        return values

    def offline_devices(self) -> list[str]:
        with self._lock:
            return sorted(self._offline)

    def _handle(self, topic: str, payload: bytes, retained: bool) -> Outcome:
        if not topic.startswith(self._prefix):
            return Outcome.IGNORED
        name = topic[len(self._prefix):]
        if name == "bridge/state":
            return self._bridge_state(payload)
        if name.startswith("bridge/"):
            return Outcome.IGNORED
        device = self._devices.get(name)
        if device is not None:
            if retained:
                # Zigbee2MQTT may retain device states; the replay is not a new report.
                return Outcome.RETAINED_REPLAY
            return self._state(device, payload)
        if name.endswith(_AVAILABILITY):
            device = self._devices.get(name[: -len(_AVAILABILITY)])
            if device is not None:
                return self._availability(device, payload)
            name = name[: -len(_AVAILABILITY)]
        elif name.endswith(("/set", "/get")) or "/set/" in name:
            return Outcome.IGNORED
        self._warn_once(Outcome.UNKNOWN_DEVICE, name, "device %r is not in the gateway config; its messages are ignored",
                        name)
        return Outcome.UNKNOWN_DEVICE

    def _state(self, device: ConfiguredDevice, payload: bytes) -> Outcome:
        try:
            state = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            state = None
        if not isinstance(state, dict):
            self._warn_once(Outcome.UNPARSEABLE, device.friendly_name,
                            "device %r sent a message that is not a JSON object; ignored", device.friendly_name)
            return Outcome.UNPARSEABLE
        result = translate(device.type, state, self._clock(), self._actions[device.device_id])
        if result.unknown_action is not None:
            self._problem(UNKNOWN_ACTIONS, device,
                          "device %s (%r) sent action %r, which is neither a help nor a cancel action for it; "
                          "not taken as an alarm (help_actions/cancel_actions in the gateway config say which are)",
                          result.unknown_action)
        if isinstance(result, Skipped):
            log.debug("%s: %s", device.friendly_name, result.reason)
            return Outcome.SKIPPED
        if result.bad_last_seen is not None:
            self._problem(BAD_LAST_SEEN, device, "device %s (%r): %s; using the gateway clock", result.bad_last_seen)

        def make(seq: int) -> tuple[str, bytes, bool]:
            msg = platform_message(
                home_id=self.home_id, device_id=device.device_id, device_type=device.type,
                ts=result.ts, seq=seq, room=device.room, values=result.values,
            )
            return msg.topic, msg.payload, msg.alarm

        self._outbox.put_sequenced(make)
        return Outcome.QUEUED

    def _availability(self, device: ConfiguredDevice, payload: bytes) -> Outcome:
        online = availability(payload)
        if online is None:
            self._warn_once(Outcome.UNPARSEABLE, device.friendly_name + _AVAILABILITY,
                            "unrecognised availability payload from %r; ignored", device.friendly_name)
            return Outcome.UNPARSEABLE
        with self._lock:
            changed = (device.device_id in self._offline) == online
            if online:
                self._offline.discard(device.device_id)
            else:
                self._offline.add(device.device_id)
        if changed:
            log.log(logging.INFO if online else logging.WARNING, "device %s (%r) is %s",
                    device.device_id, device.friendly_name, "back online" if online else "OFFLINE")
            self._on_change()
        return Outcome.AVAILABILITY

    def _bridge_state(self, payload: bytes) -> Outcome:
        online = availability(payload)  # same two formats as device availability
        if online is None:
            self._warn_once(Outcome.UNPARSEABLE, "bridge/state", "unrecognised %s payload; ignored", "bridge/state")
            return Outcome.UNPARSEABLE
        with self._lock:
            changed, self._zigbee_online = self._zigbee_online != online, online
        if changed:
            log.log(logging.INFO if online else logging.WARNING, "Zigbee2MQTT is %s", "online" if online else "OFFLINE")
            self._on_change()
        return Outcome.BRIDGE_STATE

    def _problem(self, kind: str, device: ConfiguredDevice, message: str, detail: str) -> None:
        with self._lock:
            self._problems[kind] += 1
        self._warn_once(kind, device.device_id, message, device.device_id, device.friendly_name, detail)

    def _warn_once(self, kind: str, name: str, message: str, *args: Any) -> None:
        # A chatty device must not flood the hub's log; the counters keep the total.
        key = (kind, name)
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        log.log(logging.WARNING if first else logging.DEBUG, message, *args)


def _id_list(ids: list[str], limit: int) -> str:
    """Comma-separated ids, cut at a whole id with a count of the rest if over ``limit``."""
    text = ",".join(ids)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for i, device_id in enumerate(ids):
        # Keeping this id must leave room to say how many follow it.
        if len(",".join([*kept, device_id, f"+{len(ids) - i - 1} more"])) > limit:
            return ",".join([*kept, f"+{len(ids) - i} more"])
        kept.append(device_id)
    return text  # not reached: with every id kept the text would be over the limit


def status_topic(home_id: str) -> str:
    return f"tec/v1/{home_id}/{GATEWAY_DEVICE_ID}/status"
