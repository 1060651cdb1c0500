"""Turn one MQTT message into a ``Reading`` or a ``Rejection`` with a clear reason.

Never raises for bad input: whatever arrives, the caller gets one of the two back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import NamedTuple

from pydantic import ValidationError

from .catalogue import DEVICE_TYPES, GATEWAY_DEVICE_ID, Channel
from .payloads import (
    ID_PATTERN,
    DevicePayload,
    GatewayStatusPayload,
    Reading,
    for_alert_engine,
    make_reading,
    payload_values,
)

TOPIC_PREFIX = "tec/v1/"
_ID = re.compile(ID_PATTERN)


class RejectReason(StrEnum):
    OVERSIZE = "oversize"
    BAD_TOPIC = "bad_topic"
    NOT_JSON = "not_json"
    MISSING_TYPE = "missing_type"
    UNKNOWN_DEVICE_TYPE = "unknown_device_type"
    MISSING_TS = "missing_ts"
    INVALID_TS = "invalid_ts"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    NON_FINITE = "non_finite_number"
    INVALID_VALUE = "invalid_value"
    HOME_MISMATCH = "home_mismatch"
    WRONG_CHANNEL = "wrong_channel"


# A message the alert engine must see (alarm, cancel, hub status) is not dropped for these: it
# is taken at the platform's receive time and marked as clock-skewed.
TIME_REASONS = frozenset({RejectReason.MISSING_TS, RejectReason.INVALID_TS, RejectReason.TS_IN_FUTURE,
                          RejectReason.TS_TOO_OLD})


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 16 * 1024
    max_future: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=90)


class Topic(NamedTuple):
    home_id: str
    device_id: str
    channel: Channel


_ID_BODY = ID_PATTERN.strip("^$")
_TOPIC = re.compile(f"tec/v1/({_ID_BODY})/({_ID_BODY})/(reading|event|status)")
_CHANNELS = {c.value: c for c in Channel}


def parse_topic(topic: str) -> Topic | Rejection:
    m = _TOPIC.fullmatch(topic)
    if m is not None:
        home_id, device_id, channel = m.groups()
        ch = _CHANNELS[channel]
        if (ch is Channel.STATUS) == (device_id == GATEWAY_DEVICE_ID):
            return Topic(home_id, device_id, ch)
    return _explain_topic(topic)


def _explain_topic(topic: str) -> Topic | Rejection:
    """The slow path: say exactly what is wrong with a topic."""
    if not topic.startswith(TOPIC_PREFIX):
        return Rejection(RejectReason.BAD_TOPIC, f"topic {topic!r} is not under {TOPIC_PREFIX}")
    parts = topic[len(TOPIC_PREFIX) :].split("/")
    if len(parts) != 3:
        return Rejection(
            RejectReason.BAD_TOPIC,
            f"topic {topic!r} should be tec/v1/{{home_id}}/{{device_id}}/reading|event|status",
        )
    home_id, device_id, channel = parts
    for label, value in (("home_id", home_id), ("device_id", device_id)):
        if not _ID.match(value):
            return Rejection(
                RejectReason.BAD_TOPIC,
                f"{label} {value!r} must be 1-64 letters, digits, '.', '_' or '-'",
            )
    try:
        ch = Channel(channel)
    except ValueError:
        return Rejection(RejectReason.BAD_TOPIC, f"unknown message kind {channel!r} (reading, event or status)")
    if (ch is Channel.STATUS) != (device_id == GATEWAY_DEVICE_ID):
        return Rejection(
            RejectReason.BAD_TOPIC, f"'status' is only for tec/v1/{{home_id}}/{GATEWAY_DEVICE_ID}/status"
        )
    return Topic(home_id, device_id, ch)


def _explain(err: ValidationError, tagged: bool) -> Rejection:
    """Map pydantic's first error to a reason, keeping its message as the detail."""
    e = err.errors(include_url=False)[0]
    kind = e["type"]
    loc = [str(x) for x in e["loc"]]
    if tagged and loc and loc[0] in DEVICE_TYPES:
        loc = loc[1:]  # a discriminated union puts the model's tag first
    where = ".".join(loc)
    got = e.get("input")
    detail = f"{where}: {e['msg']}" if where else e["msg"]
    if where and kind not in ("missing", "extra_forbidden") and not isinstance(got, dict):
        detail += f" (got {got!r:.60})"
    if kind == "json_invalid" or kind == "model_type" or kind == "dict_type" or kind == "model_attributes_type":
        return Rejection(RejectReason.NOT_JSON, detail if kind == "json_invalid" else "payload must be a JSON object")
    if kind == "union_tag_not_found":
        return Rejection(RejectReason.MISSING_TYPE, "payload has no 'type' (the device type)")
    if kind == "union_tag_invalid":
        tag = (e.get("ctx") or {}).get("tag", "")
        return Rejection(RejectReason.UNKNOWN_DEVICE_TYPE, f"unknown device type {tag!r}")
    if loc == ["ts"]:
        if kind == "missing":
            return Rejection(RejectReason.MISSING_TS, "payload has no 'ts' (UTC event time)")
        return Rejection(RejectReason.INVALID_TS, f"{detail}; expected ISO 8601 with offset, e.g. 2026-01-31T08:30:00Z")
    if kind == "finite_number":
        return Rejection(RejectReason.NON_FINITE, detail)
    return Rejection(RejectReason.INVALID_VALUE, detail)


def parse_message(
    topic: str, payload: bytes, received_at: datetime, limits: Limits, *, allow_clock_skew: bool = True
) -> Reading | Rejection:
    """Validate one message. ``received_at`` is arrival time (UTC), used for sanity checks and
    as the event time of an alarm whose own time is unusable (``allow_clock_skew``)."""
    if len(payload) > limits.max_payload_bytes:
        return Rejection(
            RejectReason.OVERSIZE, f"payload is {len(payload)} bytes; the limit is {limits.max_payload_bytes}"
        )
    where = parse_topic(topic)
    if isinstance(where, Rejection):
        return where
    adapter = GatewayStatusPayload if where.channel is Channel.STATUS else DevicePayload
    time_problem: Rejection | None = None
    try:
        model = adapter.validate_json(payload)
    except ValidationError as err:
        rejection = _explain(err, tagged=adapter is DevicePayload)
        model = _at_receive_time(adapter, payload, received_at) if (
            allow_clock_skew and rejection.reason in TIME_REASONS) else None
        if model is None:
            return rejection
        time_problem = rejection
    except (ValueError, TypeError) as err:  # e.g. invalid UTF-8 surrogates
        return Rejection(RejectReason.NOT_JSON, str(err)[:200])

    dt = DEVICE_TYPES[model.type]
    if where.channel not in dt.channels:
        allowed = " or ".join(c.value for c in dt.channels)
        return Rejection(RejectReason.WRONG_CHANNEL, f"{dt.name} messages go on '{allowed}', not '{where.channel}'")
    if model.home_id is not None and model.home_id != where.home_id:
        return Rejection(
            RejectReason.HOME_MISMATCH, f"payload home_id {model.home_id!r} but topic home {where.home_id!r}"
        )
    if model.device_id is not None and model.device_id != where.device_id:
        return Rejection(
            RejectReason.HOME_MISMATCH, f"payload device_id {model.device_id!r} but topic device {where.device_id!r}"
        )
    values = payload_values(model)
    if not values:
        return Rejection(RejectReason.INVALID_VALUE, f"a {dt.name} message must carry at least one of its values")

    ts: datetime | None = None
    if time_problem is None:
        ts, time_problem = _event_time(model.ts, received_at, limits)
    reading = make_reading(
        home_id=where.home_id,
        device_id=where.device_id,
        device_type=dt.name,
        channel=where.channel,
        ts=_whole_ms(received_at) if time_problem is not None or ts is None else ts,
        seq=model.seq,
        room=model.room,
        values=values,
    )
    if time_problem is None:
        return reading
    if not (allow_clock_skew and for_alert_engine(reading)):
        return time_problem
    # An alarm is never dropped because of its time: raise it now, keeping what the device said.
    reading.clock_skewed = True
    reading.device_ts = ts
    return reading


def _whole_ms(ts: datetime) -> datetime:
    # Stores keep milliseconds; truncate here so every consumer sees the stored time.
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000) if ts.microsecond % 1000 else ts


def _event_time(
    claimed: datetime | None, received_at: datetime, limits: Limits
) -> tuple[datetime | None, Rejection | None]:
    """The UTC event time (to the millisecond), None when the message has none (a last will,
    sent by the broker), and why it cannot be used, if so."""
    if claimed is None:
        return None, None
    try:
        ts = _whole_ms(claimed.astimezone(timezone.utc))
    except (OverflowError, ValueError):  # e.g. year 1 at +14:00 is before the first representable instant
        return None, Rejection(RejectReason.INVALID_TS, f"ts {claimed.isoformat()} is out of range")
    ahead = ts - received_at
    if ahead > limits.max_future:
        return ts, Rejection(
            RejectReason.TS_IN_FUTURE,
            f"ts {ts.isoformat()} is {ahead.total_seconds():.0f}s ahead of the platform clock",
        )
    if -ahead > limits.max_age:
        return ts, Rejection(RejectReason.TS_TOO_OLD, f"ts {ts.isoformat()} is older than {limits.max_age.days} days")
    return ts, None


def _at_receive_time(adapter, payload: bytes, received_at: datetime):  # noqa: ANN001 - a pydantic TypeAdapter
    """The payload validated again with the receive time in place of its unusable ``ts``, or
    None if it is still invalid (then it is rejected for its time as usual)."""
    try:
        body = json.loads(payload)
        if not isinstance(body, dict):
            return None
        body["ts"] = received_at
        return adapter.validate_python(body)
    except (ValidationError, ValueError, TypeError, RecursionError):
        return None
