"""Zigbee2MQTT state messages -> platform payload values.

Zigbee2MQTT publishes each device's whole state as JSON on ``zigbee2mqtt/<friendly_name>``.
Real devices send numbers as strings, ``null`` for unknown values, keys we do not use, and an
empty ``action`` straight after every button press. This module turns one such message into
the platform's typed values for the configured device type, or says why it cannot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tecwatch.devices import DEVICE_TYPES, Value
from tecwatch.devices.catalogue import fields_of

# Button/alarm actions as different devices name them.
_PRESS = {"single", "double", "triple", "hold", "long", "press", "pressed", "on", "emergency", "sos", "alarm"}
_CANCEL = {"cancel", "off", "release_cancel", "disarm"}
# Zigbee2MQTT key -> platform field, where they differ.
_ALIASES = {"presence": "occupancy", "click": "action", "fall": "action"}


@dataclass(frozen=True)
class Translated:
    values: dict[str, Value]
    ts: datetime  # from last_seen when the device reports it, else the gateway's clock


@dataclass(frozen=True)
class Skipped:
    reason: str


def parse_last_seen(raw: Any) -> datetime | None:
    """``last_seen`` as ISO 8601 (Z or offset) or epoch milliseconds; None if absent or unusable."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw) or raw <= 0:
            return None
        return datetime.fromtimestamp(raw / 1000, tz=timezone.utc)
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return ts.astimezone(timezone.utc) if ts.tzinfo else None
    return None


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    if isinstance(raw, (int, float)) and math.isfinite(raw):
        return float(raw)
    return None


def _boolean(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return None


def _action(device_type: str, raw: Any) -> str | None:
    if raw is True and device_type == "fall_detector":  # `fall: true`
        return "fall"
    if not isinstance(raw, str) or not raw:
        return None  # the empty action that follows a press is not a second event
    word = raw.lower()
    if word in _CANCEL:
        return "cancel"
    if device_type == "fall_detector":
        return "fall" if word in {"fall", "fall_detected", "fallen"} else None
    return "press" if word in _PRESS else None


def translate(device_type: str, state: dict[str, Any], now: datetime) -> Translated | Skipped:
    """Map one Zigbee2MQTT state to platform values for ``device_type``."""
    dt = DEVICE_TYPES.get(device_type)
    if dt is None:
        return Skipped(f"unknown device type {device_type!r}")
    if not isinstance(state, dict):
        return Skipped("state is not a JSON object")
    if any(state.get(k, 0) in ("", None) for k in ("action", "click")):
        return Skipped("the empty action that follows a press")
    specs = {f.name: f for f in fields_of(dt)}
    values: dict[str, Value] = {}
    for key, raw in state.items():
        name = _ALIASES.get(key, key)
        spec = specs.get(name)
        if spec is None or raw is None or name in values:
            continue  # unknown key, null value, or already set from its preferred spelling
        if spec.kind == "bool":
            value = _boolean(raw)
        elif spec.kind in ("float", "int"):
            value = _number(raw)
            if value is not None and (
                (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum)
            ):
                value = None  # out of the device's physical range: a glitch, not a reading
        elif name == "action":
            value = _action(device_type, raw)
        else:
            value = raw if isinstance(raw, str) and raw in spec.choices else None
        if value is not None:
            values[name] = value
    missing = [f.name for f in dt.fields if f.required and f.name not in values]
    if missing:
        return Skipped(f"no usable {', '.join(missing)} in the message")
    if not values:
        return Skipped("nothing the platform uses in the message")
    return Translated(values, parse_last_seen(state.get("last_seen")) or now)


def availability(payload: bytes) -> bool | None:
    """``zigbee2mqtt/<name>/availability``: legacy ``online``/``offline`` or ``{"state": ...}``."""
    text = payload.decode("utf-8", "replace").strip()
    if text in ("online", "offline"):
        return text == "online"
    try:
        state = json.loads(text).get("state")
    except (ValueError, AttributeError):
        return None
    return {"online": True, "offline": False}.get(state)
