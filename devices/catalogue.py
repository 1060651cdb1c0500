"""The device catalogue: every device type and what it reports, as data.

A device type is a row in ``DEVICE_TYPES``; behaviour (payload models, alarm and activity
detection, storage typing) is derived from these rows, never from a class per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

ValueKind = Literal["bool", "float", "int", "choice", "text"]
Value = bool | float | int | str

# A "text" field is free text of at most this many characters, with no control characters or
# backslashes (they do not survive InfluxDB line protocol).
TEXT_MAX_LENGTH = 1024
TEXT_PATTERN = r"^[^\x00-\x1f\x7f\\]*$"


class Channel(StrEnum):
    """The last topic level: what kind of message a device sends."""

    READING = "reading"  # state or measurement
    EVENT = "event"  # alarms and button presses
    STATUS = "status"  # gateway heartbeat / last will


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: ValueKind
    unit: str = ""
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Condition:
    """``field op value``; ops: "eq" (equals), "ge" (at least), "present" (any value)."""

    field: str
    op: Literal["eq", "ge", "present"]
    value: Value | None = None

    def holds(self, values: dict[str, Value]) -> bool:
        v = values.get(self.field)
        if v is None:
            return False
        if self.op == "present":
            return True
        if self.op == "eq":
            return v == self.value and type(v) is type(self.value)
        return not isinstance(v, (bool, str)) and v >= self.value  # "ge"


@dataclass(frozen=True)
class DeviceType:
    name: str
    label: str
    channels: tuple[Channel, ...]
    fields: tuple[FieldSpec, ...]
    # Any of these makes the message an alarm that goes to the alert engine at once.
    alarm_when: tuple[Condition, ...] = ()
    # Any of these withdraws the device's open alarm (a pendant's cancel button).
    cancel_when: tuple[Condition, ...] = ()
    # Any of these counts as a sign of life in the home (activity-pattern rules).
    activity_when: tuple[Condition, ...] = ()
    # How often a healthy device reports at least once (device-health rules).
    expected_interval_s: int = 24 * 3600
    battery_powered: bool = True
    # Radio sensors may add the common battery/link fields to any message.
    radio: bool = True
    description: str = ""

    @property
    def is_alarm_device(self) -> bool:
        return bool(self.alarm_when)


# At or below this a battery needs changing soon, whatever the device's own battery_low says.
LOW_BATTERY_PERCENT = 15.0

# Fields every battery/radio device may add to any message.
COMMON_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("battery", "float", "%", minimum=0, maximum=100, description="battery level"),
    FieldSpec("battery_low", "bool", description="device reports its battery is low"),
    FieldSpec("voltage", "float", "mV", minimum=0, maximum=10000, description="battery voltage"),
    FieldSpec("linkquality", "float", "lqi", minimum=0, maximum=255, description="radio link quality"),
)

_R, _E, _S = Channel.READING, Channel.EVENT, Channel.STATUS

DEVICE_TYPES: dict[str, DeviceType] = {
    t.name: t
    for t in (
        DeviceType(
            "motion", "PIR motion sensor", (_R,),
            (FieldSpec("occupancy", "bool", required=True, description="movement detected"),),
            activity_when=(Condition("occupancy", "eq", True),),
            expected_interval_s=6 * 3600,
        ),
        DeviceType(
            "door", "Door/window contact", (_R,),
            (FieldSpec("contact", "bool", required=True, description="true = closed"),),
            # Opening is someone at the door; a closed door's periodic check-in is not.
            activity_when=(Condition("contact", "eq", False),),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "bed", "Bed occupancy sensor", (_R,),
            (FieldSpec("occupancy", "bool", required=True, description="someone in bed"),),
            # A state sensor: its check-ins repeat the state, so only a change means movement,
            # and that needs the previous state (the alert engine's job), not one message.
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "chair", "Chair occupancy sensor", (_R,),
            (FieldSpec("occupancy", "bool", required=True, description="someone in the chair"),),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "temperature", "Temperature/humidity sensor", (_R,),
            (
                FieldSpec("temperature", "float", "°C", required=True, minimum=-40, maximum=85),
                FieldSpec("humidity", "float", "%", minimum=0, maximum=100),
            ),
            expected_interval_s=2 * 3600,
        ),
        DeviceType(
            "plug", "Smart plug (appliance use)", (_R,),
            (
                FieldSpec("power", "float", "W", required=True, minimum=0, maximum=4000),
                FieldSpec("energy", "float", "kWh", minimum=0),
                FieldSpec("state", "choice", choices=("ON", "OFF")),
                # Mains, not the battery `voltage` (mV) of radio sensors.
                FieldSpec("mains_voltage", "float", "V", minimum=0, maximum=500, description="mains voltage"),
                FieldSpec("current", "float", "A", minimum=0, maximum=100),
            ),
            # A kettle or microwave drawing real power means someone is using it.
            activity_when=(Condition("power", "ge", 20.0),),
            expected_interval_s=2 * 3600,
            battery_powered=False,
        ),
        DeviceType(
            "flush", "Toilet flush sensor", (_R, _E),
            (FieldSpec("flush", "bool", required=True, description="the toilet was flushed"),),
            # A flush is someone in the bathroom or toilet, like movement there (night visits,
            # a long stay); its room need not have a motion sensor of its own.
            activity_when=(Condition("flush", "eq", True),),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "leak", "Water leak sensor", (_R, _E),
            (FieldSpec("water_leak", "bool", required=True, description="water detected"),),
            alarm_when=(Condition("water_leak", "eq", True),),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "smoke", "Smoke/heat detector", (_R, _E),
            (
                FieldSpec("smoke", "bool", required=True, description="smoke detected"),
                FieldSpec("heat", "bool", description="heat threshold exceeded"),
                FieldSpec("temperature", "float", "°C", minimum=-40, maximum=85),
            ),
            alarm_when=(Condition("smoke", "eq", True), Condition("heat", "eq", True)),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "pendant", "Pendant alarm button", (_E,),
            # No action on a battery check-in: a pendant that stops checking in is a risk too.
            (FieldSpec("action", "choice", choices=("press", "cancel")),),
            alarm_when=(Condition("action", "eq", "press"),),
            cancel_when=(Condition("action", "eq", "cancel"),),
            activity_when=(Condition("action", "present"),),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "fall_detector", "Fall detector", (_E,),
            (FieldSpec("action", "choice", choices=("fall", "cancel")),),
            alarm_when=(Condition("action", "eq", "fall"),),
            cancel_when=(Condition("action", "eq", "cancel"),),
            expected_interval_s=24 * 3600,
        ),
        DeviceType(
            "gateway", "Home gateway heartbeat", (_S,),
            (
                FieldSpec("status", "choice", required=True, choices=("online", "offline")),
                FieldSpec("uptime_s", "float", "s", minimum=0),
                FieldSpec("outbox_depth", "float", "messages", minimum=0),
                FieldSpec("outbox_dropped", "float", "messages", minimum=0,
                          description="readings dropped because the outbox was full"),
                FieldSpec("outbox_unconfirmed", "float", "messages", minimum=0,
                          description="messages the broker took that the platform has not yet confirmed"),
                FieldSpec("outbox_oldest_s", "float", "s", minimum=0,
                          description="age of the oldest message still in the outbox"),
                FieldSpec("zigbee", "choice", choices=("online", "offline"), description="Zigbee2MQTT bridge state"),
                FieldSpec("devices_offline", "float", "devices", minimum=0),
                FieldSpec("offline_devices", "text",
                          description="ids of the devices offline, comma-separated, sorted; empty when none"),
                FieldSpec("unknown_actions", "float", "messages", minimum=0,
                          description="button actions the hub's config does not map, since the gateway started"),
                FieldSpec("bad_last_seen", "float", "messages", minimum=0,
                          description="device times replaced by the hub's clock as implausible, since start"),
                # Signed, hub clock minus reference. Wide: a hub without a real-time clock boots
                # in 1970, about -1.9e9 s, and that must still be reportable.
                FieldSpec("clock_offset_s", "float", "s", minimum=-1e10, maximum=1e10,
                          description="hub clock minus the platform's (or NTP's estimate); absent when unknown"),
                FieldSpec("clock_synced", "bool", description="the hub's kernel says NTP has its clock in sync"),
            ),
            # The hub's last will: the platform must hear of a dead hub at once, and of its return.
            alarm_when=(Condition("status", "eq", "offline"),),
            cancel_when=(Condition("status", "eq", "online"),),
            expected_interval_s=5 * 60,
            battery_powered=False,
            radio=False,
        ),
    )
}

GATEWAY_DEVICE_ID = "gateway"


def device_type(name: str) -> DeviceType | None:
    return DEVICE_TYPES.get(name)


_BATTERY_FIELDS = frozenset({"battery", "battery_low", "voltage"})


def fields_of(dt: DeviceType) -> tuple[FieldSpec, ...]:
    """The type's own fields plus, for radio sensors, the common ones (the battery's only for
    battery-powered types: a mains plug's 241 V is never a battery voltage in mV)."""
    own = {f.name for f in dt.fields}
    return dt.fields + tuple(f for f in COMMON_FIELDS if dt.radio and f.name not in own
                             and (dt.battery_powered or f.name not in _BATTERY_FIELDS))


def all_field_kinds() -> dict[str, ValueKind]:
    """Every field name across the catalogue and its one kind (a store column has one type)."""
    kinds: dict[str, ValueKind] = {}
    for dt in DEVICE_TYPES.values():
        for f in fields_of(dt):
            kinds.setdefault(f.name, f.kind)
    return kinds
