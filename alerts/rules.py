"""Every alert rule, as data: its key, priority, title in plain words, how it comes about, and
for the activity-pattern rules the function that works out where it holds.

The engine, the lifecycle, the pattern passes, the reports and the family view all read this
table, so a rule is added or reworded in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from .patterns import (
    Context, Finding, cold_home, door_at_night, long_stay, night_bathroom_increase, no_activity, not_up,
)

ALARM, HEALTH, PATTERN = "alarm", "health", "pattern"


@dataclass(frozen=True)
class Rule:
    key: str
    priority: int  # 1 is answered first: life safety, then a person possibly in trouble, then the home
    title: str  # for people who are not operators (families, notifications)
    wording: str  # the start of an alarm's reason; for the others, what it means
    kind: str  # ALARM (raised by ingest at once), HEALTH (devices, scheduled) or PATTERN (learned routine)
    device_type: str | None = None  # ALARM: the device type whose alarm raises it
    mask: Callable[[Context], Finding] | None = None  # PATTERN: where it holds
    needs_hub: bool = False  # PATTERN: silent while the hub is offline (what it looks for is silence)


RULES: tuple[Rule, ...] = (
    Rule("pendant", 1, "Pendant alarm pressed", "Pendant pressed", ALARM, "pendant"),
    Rule("fall_detected", 1, "Fall detected", "Fall detected", ALARM, "fall_detector"),
    Rule("smoke", 1, "Smoke or heat alarm", "Smoke or heat detected", ALARM, "smoke"),
    Rule("flood", 1, "Water leak", "Water leak detected", ALARM, "leak"),
    Rule("no_activity", 2, "No movement for longer than usual",
         "no movement for longer than is usual at this time of day", PATTERN, mask=no_activity, needs_hub=True),
    Rule("not_up", 2, "Not up at the usual time", "no sign of getting up by the usual time", PATTERN,
         mask=not_up, needs_hub=True),
    Rule("door_at_night", 2, "Front door opened at night", "the front door opened at an unusual time of night",
         PATTERN, mask=door_at_night, needs_hub=True),
    Rule("long_stay", 2, "In one room for longer than usual", "in the bathroom or kitchen far longer than usual",
         PATTERN, mask=long_stay, needs_hub=True),
    Rule("cold_home", 2, "The home is cold", "the home has been cold for an hour with someone in", PATTERN,
         mask=cold_home),
    Rule("night_bathroom_increase", 3, "More night-time bathroom visits than usual",
         "more night-time bathroom visits than usual, three nights running", PATTERN,
         mask=night_bathroom_increase),
    Rule("hub_offline", 3, "The hub is offline", "Home hub went offline (its last will)", ALARM, "gateway"),
    Rule("device_silent", 4, "A sensor has stopped reporting", "a sensor has not reported for too long", HEALTH),
    Rule("low_battery", 4, "A battery is low", "a device's battery is low", HEALTH),
    Rule("hub_clock_wrong", 4, "The home hub's clock is wrong", "the hub's clock is wrong", HEALTH),
)

BY_KEY: MappingProxyType[str, Rule] = MappingProxyType({r.key: r for r in RULES})
PATTERN_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.kind == PATTERN)
# Rules about the person's activity: an open hub-outage alert explains them away.
ACTIVITY_RULES: tuple[str, ...] = ("no_activity", "not_up", "long_stay")
# Device type -> the rule its alarm raises at once.
IMMEDIATE_RULES: MappingProxyType[str, str] = MappingProxyType(
    {r.device_type: r.key for r in RULES if r.kind == ALARM and r.device_type})
# Rules about the devices and the hub rather than the person (reports count them apart).
DEVICE_HEALTH_RULES: tuple[str, ...] = ("device_silent", "low_battery", "hub_offline")
DEFAULT_PRIORITY = 3


def priority(key: str) -> int:
    rule = BY_KEY.get(key)
    return rule.priority if rule else DEFAULT_PRIORITY


def title(key: str) -> str:
    rule = BY_KEY.get(key)
    return rule.title if rule else key.replace("_", " ")
