"""InfluxDB line protocol for readings: the write hot path (tens of thousands per second).

See influx.py for the data layout. Tag values that need no escaping (ids, device types,
most rooms) pass through after a few substring tests; no regular expressions per reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

from tecwatch.devices import Channel, Reading
from tecwatch.devices.catalogue import all_field_kinds

from .base import to_ms

# Every catalogue field and its one kind (a field has one type per measurement).
FIELD_KINDS = MappingProxyType(all_field_kinds())


def _escape_tag(v: str) -> str:
    # Line protocol escapes ' ', ',' and '=' in tag values but has no escape for a backslash:
    # a value ending in a backslash, or with one before those characters, or with a line
    # break, cannot be written so that it reads back the same.
    if "\n" in v or "\r" in v or ("\\" in v and (v.endswith("\\") or any("\\" + c in v for c in " ,=\\"))):
        raise ValueError(f"tag value {v!r} cannot be written in InfluxDB line protocol")
    return v.replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")


def _tag(v: str) -> str:
    # Fast path: ids and device types never need escaping; substring tests are cheap.
    if " " in v or "," in v or "=" in v or "\\" in v or "\n" in v or "\r" in v:
        return _escape_tag(v)
    return v


def _escape_key(k: str) -> str:
    if "\\" in k or "\n" in k or k in ("time", "", "seq", "activity"):
        raise ValueError(f"field name {k!r} cannot be stored")
    return k.replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")


_PLAIN_KEYS = frozenset(k for k in FIELD_KINDS if _escape_key(k) == k)


def _field(k: str, v: Any) -> str:
    key = k if k in _PLAIN_KEYS else _escape_key(k)
    t = type(v)
    if t is float:
        if not math.isfinite(v):
            raise ValueError(f"{k}={v} is not a finite number")
        return f"{key}={v!r}"
    if t is bool:
        return f"{key}=true" if v else f"{key}=false"
    if t is str:
        if "\\" in v or '"' in v:
            v = v.replace("\\", "\\\\").replace('"', '\\"')
        return f'{key}="{v}"'
    if t is int:
        return f"{key}={float(v)!r}"  # numbers are stored as floats (see influx.py)
    raise ValueError(f"{k}={v!r}: unsupported value type {t.__name__}")


_MEASUREMENT = MappingProxyType({c: c.value for c in Channel})


def line(r: Reading) -> str:
    """One reading as a line of InfluxDB line protocol (ns precision). Raises ValueError.

    The time is the reading's millisecond plus its sequence number (mod 10^6) in nanoseconds:
    two readings of one device in the same millisecond (a door opened and closed) are two
    points, while a redelivered copy (same time, same seq) still replaces itself."""
    head = (
        f"{_MEASUREMENT[r.channel]},device_id={_tag(r.device_id)},"
        f"device_type={_tag(r.device_type)},home_id={_tag(r.home_id)}"
    )
    if r.room:
        head += ",room=" + _tag(r.room)
    fields = "activity=1i" if r.activity else "activity=0i"
    if r.seq is not None:
        fields += f",seq={r.seq}i"
    for k, v in r.values.items():
        fields += "," + _field(k, v)
    return f"{head} {fields} {point_ns(r)}"


def point_ns(r: Reading) -> int:
    return to_ms(r.ts) * 1_000_000 + (r.seq % 1_000_000 if r.seq is not None else 0)


def format_lines(readings: Iterable[Reading]) -> tuple[list[str], list[Reading]]:
    """Line protocol for the readings that can be written, and the readings that cannot."""
    lines, refused = [], []
    for r in readings:
        try:
            lines.append(line(r))
        except ValueError:
            refused.append(r)
    return lines, refused
