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
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from tecwatch.devices import DEVICE_TYPES, DeviceType, Value
from tecwatch.devices.catalogue import fields_of

# Zigbee2MQTT key -> platform field, where they differ.
_ALIASES = MappingProxyType({"presence": "occupancy", "click": "action", "fall": "action"})
# On a mains-powered device Zigbee2MQTT's `voltage` is the mains (V), never a battery (mV).
_MAINS_ALIASES = MappingProxyType({**_ALIASES, "voltage": "mains_voltage"})

# `last_seen` is Zigbee2MQTT's receipt time, from the hub's clock (or, when Zigbee2MQTT runs on
# another host, a clock that NTP keeps within milliseconds of it). It cannot be legitimately
# ahead of the gateway's clock by more than a clock step or rounding: 5 s allows for those.
LAST_SEEN_MAX_AHEAD = timedelta(seconds=5)
# The hub's broker queues states while the gateway is down, so hours-old (after a long outage,
# days-old) ones are real; older than this the clock that stamped them was wrong (a hub without
# a real-time clock starts in 1970 until NTP sets it).
LAST_SEEN_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class ActionRules:
    """Which Zigbee2MQTT actions mean help and which cancel: lowercase patterns, where
    ``"double*"`` is any action starting with ``double`` and ``"*"`` any action at all.
    Cancel is tried first, so ``help=("*",)`` means every action that is not a cancel."""

    help: tuple[str, ...]
    cancel: tuple[str, ...]

    def classify(self, action: str) -> str | None:
        """``"help"``, ``"cancel"`` or None (not mapped) for one action."""
        word = action.strip().lower()
        if _matches(self.cancel, word):
            return "cancel"
        return "help" if _matches(self.help, word) else None


def _matches(patterns: tuple[str, ...], word: str) -> bool:
    return any(word.startswith(p[:-1]) if p.endswith("*") else word == p for p in patterns)


CANCEL_WORDS = ("cancel", "off", "release_cancel", "disarm")

# Per device type with an `action`; a device's own help_actions/cancel_actions replace these.
DEFAULT_ACTIONS = MappingProxyType({
    # Any press on a pendant is a call for help, whatever its buttons are called (single_right,
    # button_1_single, toggle, panic...): a missed call is far worse than a spurious one.
    "pendant": ActionRules(help=("*",), cancel=CANCEL_WORDS),
    "fall_detector": ActionRules(help=("fall", "fall_detected", "fallen"), cancel=CANCEL_WORDS),
})


def action_rules(device_type: str, help_actions: list[str] | None = None,
                 cancel_actions: list[str] | None = None) -> ActionRules:
    """A device's rules: its type's defaults, with what its config sets in their place."""
    default = DEFAULT_ACTIONS.get(device_type, ActionRules((), ()))
    helps = tuple(help_actions) if help_actions is not None else default.help
    if cancel_actions is not None:
        cancels = tuple(cancel_actions)
    else:  # a word the config calls help is not a default cancel word ("off" on some remotes)
        cancels = tuple(w for w in default.cancel if w not in helps)
    return ActionRules(helps, cancels)


@dataclass(frozen=True)
class Translated:
    values: dict[str, Value]
    ts: datetime  # from last_seen when the device reports a plausible one, else the gateway's clock
    unknown_action: str | None = None  # an action the rules do not map; left out of values
    bad_last_seen: str | None = None  # why last_seen was not used, when it was there


@dataclass(frozen=True)
class Skipped:
    reason: str
    unknown_action: str | None = None


def parse_last_seen(raw: Any) -> datetime | None:
    """``last_seen`` as ISO 8601 (Z or offset) or epoch milliseconds; None if absent or unusable."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        if isinstance(raw, (int, float)):
            if not math.isfinite(raw) or raw <= 0:
                return None
            return datetime.fromtimestamp(raw / 1000, tz=timezone.utc)
        if isinstance(raw, str):
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return ts.astimezone(timezone.utc) if ts.tzinfo else None
    except (ValueError, OverflowError, OSError):  # not a time, or outside what datetime holds
        return None
    return None


def event_time(raw: Any, now: datetime) -> tuple[datetime, str | None]:
    """The message's event time: its ``last_seen`` when plausible against ``now`` (the
    gateway's clock), else ``now`` and why ``last_seen`` was not used (None if it was absent)."""
    if raw is None:
        return now, None
    ts = parse_last_seen(raw)
    if ts is None:
        problem = "is not a time with a UTC offset"
    elif ts - now > LAST_SEEN_MAX_AHEAD:
        problem = f"is {(ts - now).total_seconds():.0f} s ahead of the gateway clock"
    elif now - ts > LAST_SEEN_MAX_AGE:
        problem = f"is more than {LAST_SEEN_MAX_AGE.days} days before the gateway clock"
    else:
        return ts, None
    return now, f"last_seen {str(raw)[:40]!r} {problem}"


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


def _action_values(dt: DeviceType) -> dict[str, Value]:
    """The platform's `action` values for help and cancel, from the type's alarm conditions."""
    out: dict[str, Value] = {}
    for meaning, conditions in (("help", dt.alarm_when), ("cancel", dt.cancel_when)):
        for c in conditions:
            if c.field == "action" and c.op == "eq" and c.value is not None:
                out[meaning] = c.value
    return out


def _action(dt: DeviceType, rules: ActionRules, raw: Any) -> tuple[Value | None, str | None]:
    """(platform action or None, the unmapped action if it is one)."""
    meanings = _action_values(dt)
    if raw is False or (isinstance(raw, str) and not raw.strip()):
        return None, None  # `fall: false`, or the empty action that follows a press
    if raw is True:
        return meanings.get("help"), None  # `fall: true`
    if not isinstance(raw, str):
        return None, json.dumps(raw)[:64]
    meaning = rules.classify(raw)
    if meaning is None or meaning not in meanings:
        return None, raw[:64]
    return meanings[meaning], None


def translate(device_type: str, state: dict[str, Any], now: datetime,
              actions: ActionRules | None = None) -> Translated | Skipped:
    """Map one Zigbee2MQTT state to platform values for ``device_type``; ``actions`` are the
    device's action rules (its type's defaults when None)."""
    dt = DEVICE_TYPES.get(device_type)
    if dt is None:
        return Skipped(f"unknown device type {device_type!r}")
    if not isinstance(state, dict):
        return Skipped("state is not a JSON object")
    if any(state.get(k, 0) in ("", None) for k in ("action", "click")):
        return Skipped("the empty action that follows a press")
    rules = actions if actions is not None else action_rules(device_type)
    aliases = _ALIASES if dt.battery_powered else _MAINS_ALIASES
    specs = {f.name: f for f in fields_of(dt)}
    values: dict[str, Value] = {}
    unknown: str | None = None
    for key, raw in state.items():
        name = aliases.get(key, key)
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
            value, unmapped = _action(dt, rules, raw)
            unknown = unknown or unmapped
        else:
            value = raw if isinstance(raw, str) and raw in spec.choices else None
        if value is not None:
            values[name] = value
    missing = [f.name for f in dt.fields if f.required and f.name not in values]
    if missing:
        return Skipped(f"no usable {', '.join(missing)} in the message", unknown)
    if not values:
        return Skipped("nothing the platform uses in the message", unknown)
    ts, bad_last_seen = event_time(state.get("last_seen"), now)
    return Translated(values, ts, unknown, bad_last_seen)


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
