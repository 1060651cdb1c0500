"""Platform payload models (generated from the catalogue) and the normalised ``Reading``.

Topics: ``tec/v1/{home_id}/{device_id}/reading|event`` and ``tec/v1/{home_id}/gateway/status``.
A payload is a JSON object with ``type`` (device type), ``ts`` (UTC event time, ISO 8601 with
offset), ``seq`` (per-gateway monotonic number), the type's fields and optional ``room``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, create_model

from .catalogue import LOW_BATTERY_PERCENT, DEVICE_TYPES, Channel, Condition, DeviceType, FieldSpec, Value, fields_of
from .catalogue import TEXT_MAX_LENGTH, TEXT_PATTERN

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# The stores keep seq as a signed 64-bit integer.
MAX_SEQ = 2**63 - 1
ROOM_PATTERN = r"^[^\x00-\x1f\x7f\\]{1,64}$"
# Envelope keys: everything else in a payload is a device value.
ENVELOPE = frozenset({"type", "ts", "seq", "room", "home_id", "device_id"})


# Not frozen: a frozen dataclass costs three times as much to build, and one is built per
# message on the ingest hot path. Treat a Reading as immutable all the same.
@dataclass(slots=True)
class Reading:
    """One validated message, as stored. ``ts`` is the event time from the payload."""

    home_id: str
    device_id: str
    device_type: str
    channel: Channel
    ts: datetime
    seq: int | None
    room: str | None
    values: dict[str, Value]
    activity: bool
    alarm: bool
    # Set when the device's own time could not be used (a hub with a wrong clock): ``ts`` is
    # then the platform's receive time and ``device_ts`` what the device said, if anything.
    clock_skewed: bool = False
    device_ts: datetime | None = None


def make_reading(
    *,
    home_id: str,
    device_id: str,
    device_type: str,
    channel: Channel,
    ts: datetime,
    seq: int | None,
    room: str | None,
    values: dict[str, Value],
    clock_skewed: bool = False,
    device_ts: datetime | None = None,
) -> Reading:
    """Build a Reading, deriving activity and alarm from the catalogue."""
    dt = DEVICE_TYPES[device_type]
    return Reading(
        home_id, device_id, device_type, channel, ts, seq, room, values,
        _any_holds(dt.activity_when, values), _any_holds(dt.alarm_when, values), clock_skewed, device_ts,
    )


def _any_holds(conditions: tuple[Condition, ...], values: dict[str, Value]) -> bool:
    for c in conditions:
        if c.holds(values):
            return True
    return False


class _Envelope(BaseModel):
    # Strict: "21.5" is not a temperature and "true" is not a boolean.
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    ts: AwareDatetime
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    # Free text, but no control characters or backslashes (they do not survive line protocol).
    room: Annotated[str, Field(pattern=ROOM_PATTERN)] | None = None
    home_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    device_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None


class _StatusEnvelope(_Envelope):
    # A gateway's last will is published by the broker when the hub vanishes; it carries no
    # time or sequence of its own, so arrival time stands in for event time.
    ts: AwareDatetime | None = None
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)] | None = None


def _annotation(spec: FieldSpec) -> Any:
    if spec.kind == "bool":
        return bool
    if spec.kind == "choice":
        return Literal[spec.choices]
    if spec.kind == "text":
        return Annotated[str, Field(max_length=TEXT_MAX_LENGTH, pattern=TEXT_PATTERN)]
    base = float if spec.kind == "float" else int
    return Annotated[base, Field(ge=spec.minimum, le=spec.maximum)]


def _model_for(dt: DeviceType) -> type[BaseModel]:
    base = _StatusEnvelope if dt.channels == (Channel.STATUS,) else _Envelope
    fields: dict[str, Any] = {"type": (Literal[dt.name], ...)}
    for spec in fields_of(dt):
        ann = _annotation(spec)
        fields[spec.name] = (ann, ...) if spec.required else (ann | None, None)
    return create_model(f"{dt.name.title().replace('_', '')}Payload", __base__=base, **fields)


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {name: _model_for(dt) for name, dt in DEVICE_TYPES.items()}

# Device readings/events: the `type` field selects the model.
DevicePayload = TypeAdapter(
    Annotated[
        Union[tuple(m for n, m in PAYLOAD_MODELS.items() if n != "gateway")],  # noqa: UP007
        Field(discriminator="type"),
    ]
)


class _GatewayStatusInput(PAYLOAD_MODELS["gateway"]):  # type: ignore[misc,valid-type]
    # On the status topic the type is implied, so it may be left out.
    type: Literal["gateway"] = "gateway"


GatewayStatusPayload = TypeAdapter(_GatewayStatusInput)


def payload_values(model: BaseModel) -> dict[str, Value]:
    """The device values of a validated payload (envelope and absent fields left out)."""
    return {k: v for k, v in model.__dict__.items() if v is not None and k not in ENVELOPE}


@dataclass(frozen=True)
class PlatformMessage:
    topic: str
    payload: bytes
    alarm: bool


def is_cancel(reading: Reading) -> bool:
    """Does this reading withdraw the device's open alarm (e.g. the pendant's cancel)?"""
    return _any_holds(DEVICE_TYPES[reading.device_type].cancel_when, reading.values)


def low_battery(reading: Reading) -> bool:
    battery = reading.values.get("battery")
    return reading.values.get("battery_low") is True or (
        isinstance(battery, float) and battery <= LOW_BATTERY_PERCENT)


def for_alert_engine(reading: Reading) -> bool:
    """Readings the alert engine must see as they arrive: alarms, cancels, a low battery."""
    return reading.alarm or is_cancel(reading) or low_battery(reading)


def route(device_type: str, values: dict[str, Value]) -> tuple[Channel, bool]:
    """The channel a report goes on, and whether it is an alarm.

    Alarms go on the ``event`` channel where the type has one, so they are easy to tell apart
    on the wire; everything else is a ``reading`` (or the gateway's ``status``).
    """
    dt = DEVICE_TYPES[device_type]
    alarm = _any_holds(dt.alarm_when, values)
    if Channel.STATUS in dt.channels:
        return Channel.STATUS, alarm
    if Channel.READING in dt.channels and not (alarm and Channel.EVENT in dt.channels):
        return Channel.READING, alarm
    return Channel.EVENT, alarm


def platform_message(
    *,
    home_id: str,
    device_id: str,
    device_type: str,
    ts: datetime,
    seq: int,
    room: str | None,
    values: dict[str, Value],
) -> PlatformMessage:
    """The topic and JSON payload a gateway publishes for one device report."""
    channel, alarm = route(device_type, values)
    body: dict[str, Any] = {"type": device_type, "ts": ts.isoformat(timespec="milliseconds"), "seq": seq}
    if room is not None:
        body["room"] = room
    body.update(values)
    return PlatformMessage(f"tec/v1/{home_id}/{device_id}/{channel}", json.dumps(body).encode(), alarm)


# The platform tells each home's gateway which of its messages it has durably handled (stored
# or dead-lettered; an alarm accepted by the alert engine), so the gateway can let them go.
# Outside tec/v1/#: ingest's own subscription never sees its confirmations.
CONFIRM_PREFIX = "tec/confirm/v1/"
# Where an ingest worker checks, at start, that its broker delivers to shared subscriptions.
PROBE_PREFIX = "tec/probe/v1/"


def confirm_topic(home_id: str) -> str:
    return f"{CONFIRM_PREFIX}{home_id}"


def confirmation(seqs: list[int], at: datetime) -> bytes:
    """``{"seqs": [...], "at": platform time}``: the time lets a gateway see its clock is off."""
    return json.dumps({"seqs": seqs, "at": at.isoformat(timespec="milliseconds")}, separators=(",", ":")).encode()


def parse_confirmation(payload: bytes) -> list[int] | None:
    """The confirmed sequence numbers, or None if the payload is not a confirmation."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    seqs = body.get("seqs") if isinstance(body, dict) else None
    if not isinstance(seqs, list) or not all(type(q) is int for q in seqs):
        return None
    return seqs
