"""Dense per-home signal arrays: stored readings folded into fixed time buckets for numpy rules.

``Signals.counts[h, b, s]`` is how often signal ``s`` happened in home ``h`` during bucket ``b``
(TEMP_MIN holds a scaled temperature instead of a count, see ``temperature_c``; READINGS counts
every stored reading, whatever it says, so a fold can be checked against the store's own count).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from tecwatch.devices import Reading
from tecwatch.registry.vocab import FRONT_DOOR_ROLES

# The activity signals come first and together (the rules read them as a run of planes).
MOTION_ANY, DOOR_OPEN, BED_OUT, BED_IN, KETTLE, PENDANT = 0, 1, 2, 3, 4, 5
MOTION_BATHROOM, MOTION_BEDROOM, MOTION_KITCHEN, TEMP_MIN, OFFLINE, READINGS = 6, 7, 8, 9, 10, 11
SEAT = 12  # someone sat down in a chair or seat (getting up from one is counted as motion)
# A toilet flushed. Also counted as movement in the bathroom (a visit), but a flush is the end of
# a visit, never "still in there": the rules tell it apart by this plane.
FLUSH = 13
SIGNAL_NAMES: tuple[str, ...] = (
    "motion_any", "door_open", "bed_out", "bed_in", "kettle", "pendant",
    "motion_bathroom", "motion_bedroom", "motion_kitchen", "temp_min", "offline", "readings", "seat", "flush",
)
N_SIGNALS = len(SIGNAL_NAMES)
# Signals that mean someone is moving about in the home. DOOR_OPEN is the front door only;
# KETTLE is the kettle or another appliance, fridge, cupboard or inner door used.
ACTIVITY_SIGNALS: tuple[int, ...] = (MOTION_ANY, DOOR_OPEN, BED_OUT, BED_IN, KETTLE, PENDANT, SEAT)

TEMP_NONE = np.iinfo(np.uint16).max  # no temperature reading in the bucket
TEMP_OFFSET_C = 50.0  # stored as round((celsius + 50) * 10) so that frost fits an unsigned int
KETTLE_MIN_W = 20.0
DEFAULT_BUCKET = timedelta(minutes=5)
# Sensors whose readings are a state (in bed, in the chair, hub online) rather than an event.
STATE_TYPES: tuple[str, ...] = ("bed", "chair", "gateway")
# How far back to look for the state a state sensor was in: beds check in daily.
STATE_LOOKBACK = timedelta(hours=36)
# Rooms (controlled-list names, see registry.vocab.Room) with a motion plane of their own.
_ROOM_SIGNAL = {"bathroom": MOTION_BATHROOM, "toilet": MOTION_BATHROOM, "bedroom": MOTION_BEDROOM,
                "kitchen": MOTION_KITCHEN}
# Without a role from the registry, a contact in one of these rooms is not the front door.
_INNER_ROOMS = frozenset({"kitchen", "bathroom", "toilet", "bedroom", "second_bedroom", "utility", "dining_room"})
# A room named outside the controlled list (a reading's own room, e.g. "Master bedroom", "WC",
# "Bath2"): words in it that say which plane it is. A spare room is not where the person sleeps.
_ROOM_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("bathroom", frozenset({"bathroom", "bath", "toilet", "wc", "loo", "shower", "restroom", "lavatory", "ensuite",
                            "washroom"})),
    ("kitchen", frozenset({"kitchen", "kitchenette"})),
    ("bedroom", frozenset({"bedroom"})),
)
_SPARE_WORDS = frozenset({"second", "spare", "guest"})
# Without a role, a contact whose device or room name says one of these is the front door, and
# one that names a fitting or an inner room is not (the registry's role always wins).
_FRONT_DOOR_WORDS = ("front", "entrance", "entry", "maindoor", "main_door", "street")
_INNER_WORDS = ("fridge", "freezer", "cupboard", "cabinet", "drawer", "wardrobe", "closet", "pantry", "microwave",
                "oven", "dishwasher", "washing", "internal", "inner", "back", "garden", "garage")


@dataclass(frozen=True)
class Fitted:
    """Where a device is fitted and what to, as the registry has it (None: not recorded)."""

    room: str | None = None
    role: str | None = None  # a ContactRole value, for contact sensors


def room_key(text: str | None) -> str:
    """A room name as the controlled list spells it: "Dining room" and "dining-room" are dining_room."""
    return (text or "").strip().lower().replace(" ", "_").replace("-", "_")


def room_kind(text: str | None) -> str:
    """The controlled-list room a name is, for the rules: itself when on the list, else the room
    its words say ("Master bedroom" is bedroom, "WC" bathroom), else the name as a key."""
    key = room_key(text)
    if key in _ROOM_SIGNAL or key in _INNER_ROOMS:
        return key
    words = set(re.split(r"[^a-z]+", key)) - {""}
    for kind, names in _ROOM_WORDS:
        if words & names and not (kind == "bedroom" and words & _SPARE_WORDS):
            return kind
    return key


def is_front_door(fitted: Fitted | None, room: str | None, device_id: str = "") -> bool:
    if fitted is not None and fitted.role:
        return fitted.role in FRONT_DOOR_ROLES
    names = f"{room_key(device_id)} {room_key(room)}"
    if any(w in names for w in _FRONT_DOOR_WORDS):
        return True
    if any(w in names for w in _INNER_WORDS):
        return False
    return room_kind(room) not in _INNER_ROOMS and room_kind(device_id) not in _INNER_ROOMS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Signals:
    home_ids: list[str]
    start: datetime  # UTC, a multiple of ``bucket`` since the epoch
    bucket: timedelta
    counts: np.ndarray  # (homes, buckets, N_SIGNALS) uint16
    names: tuple[str, ...] = SIGNAL_NAMES

    @property
    def n_buckets(self) -> int:
        return int(self.counts.shape[1])

    @property
    def end(self) -> datetime:
        return self.start + self.n_buckets * self.bucket

    def index_of(self, t: datetime) -> int:
        """The bucket holding ``t`` (may be outside the array)."""
        return (t - self.start) // self.bucket

    def time_of(self, b: int) -> datetime:
        return self.start + int(b) * self.bucket

    def window(self, start: datetime, end: datetime) -> Signals:
        """The buckets from the one holding ``start`` up to (not including) the one holding ``end``."""
        lo, hi = max(0, self.index_of(start)), min(self.n_buckets, self.index_of(end))
        return Signals(self.home_ids, self.time_of(lo), self.bucket, self.counts[:, lo:hi], self.names)

    def rows(self, rows: np.ndarray | slice) -> Signals:
        """Only the homes in ``rows`` (a slice is a view; indices copy)."""
        ids = self.home_ids[rows] if isinstance(rows, slice) else [self.home_ids[i] for i in rows]
        return Signals(ids, self.start, self.bucket, self.counts[rows], self.names)

    def activity(self) -> np.ndarray:
        """(homes, buckets) bool: any sign of someone moving about."""
        c = self.counts
        # OR the few signal planes together: far quicker than a reduction along the last axis.
        acc = c[:, :, ACTIVITY_SIGNALS[0]].copy()
        for s in ACTIVITY_SIGNALS[1:]:
            acc |= c[:, :, s]
        return acc != 0

    def offline(self) -> np.ndarray:
        return self.counts[:, :, OFFLINE] > 0

    def temperature_c(self) -> np.ndarray:
        """(homes, buckets) float: the coldest reading in each bucket, NaN where there was none."""
        raw = self.counts[:, :, TEMP_MIN]
        return np.where(raw == TEMP_NONE, np.nan, raw / 10.0 - TEMP_OFFSET_C)


def align(t: datetime, bucket: timedelta) -> datetime:
    """``t`` rounded down to a multiple of ``bucket`` since the epoch."""
    return _EPOCH + ((t - _EPOCH) // bucket) * bucket


def empty(home_ids: Sequence[str], start: datetime, end: datetime, bucket: timedelta = DEFAULT_BUCKET) -> Signals:
    start = align(start, bucket)
    n = max(0, -((start - end) // bucket))
    # Indexed (homes, buckets, signal) but laid out signal by signal: the rules read whole
    # (homes, buckets) planes, and at county scale they are bound by memory traffic.
    counts = np.zeros((N_SIGNALS, len(home_ids), n), dtype=np.uint16).transpose(1, 2, 0)
    counts[:, :, TEMP_MIN] = TEMP_NONE
    return Signals(list(home_ids), start, bucket, counts)


def signals_from_readings(
    readings: Iterable[Reading],
    home_ids: Sequence[str],
    start: datetime,
    end: datetime,
    bucket: timedelta = DEFAULT_BUCKET,
    fitted: Mapping[tuple[str, str], Fitted] | None = None,
) -> Signals:
    """Fold readings of the given homes with start <= ts < end into a Signals array.

    ``fitted``: each (home, device)'s room and role from the registry; a reading's own room is
    used where the registry has none.

    Check-ins repeat a device's state, so bed and gateway status count only when the state
    changes. A state sensor's reading from before ``start`` (see ``STATE_TYPES``) sets the state
    the range begins in; without one, the device's first reading in the range sets it.
    """
    out = empty(home_ids, start, end, bucket)
    row = {h: i for i, h in enumerate(out.home_ids)}
    homes: list[int] = []
    buckets: list[int] = []
    kinds: list[int] = []
    every: list[int] = []  # the flat (home, bucket) cell of every reading, for READINGS
    temps: list[tuple[int, int, float]] = []
    stateful: list[Reading] = []
    for r in readings:
        h = row.get(r.home_id)
        b = out.index_of(r.ts)
        if h is None or b >= out.n_buckets:
            continue
        if b < 0:
            if r.device_type in STATE_TYPES:
                stateful.append(r)
            continue
        every.append(h * out.n_buckets + b)
        for kind in _kinds(r, None if fitted is None else fitted.get((r.home_id, r.device_id))):
            homes.append(h)
            buckets.append(b)
            kinds.append(kind)
        if r.device_type == "temperature" and isinstance(r.values.get("temperature"), (int, float)):
            temps.append((h, b, float(r.values["temperature"])))
        elif r.device_type in STATE_TYPES:
            stateful.append(r)
    offline_ranges = _state_changes(stateful, row, out, homes, buckets, kinds)
    shape = out.counts.shape
    if kinds:
        flat = np.ravel_multi_index((np.array(homes), np.array(buckets), np.array(kinds)), shape)
        added = np.bincount(flat, minlength=out.counts.size).reshape(shape)
        # TEMP_MIN is never among the counted kinds: keep its sentinel.
        added[:, :, TEMP_MIN] = TEMP_NONE
        out.counts[...] = np.minimum(added, TEMP_NONE)
    if every:
        per_cell = np.bincount(np.array(every), minlength=len(out.home_ids) * out.n_buckets)
        out.counts[:, :, READINGS] = np.minimum(per_cell, TEMP_NONE).reshape(out.counts.shape[:2])
    if temps:
        th, tb, tv = (np.array(x) for x in zip(*temps))
        scaled = np.clip(np.round((tv + TEMP_OFFSET_C) * 10), 0, TEMP_NONE - 1).astype(np.uint16)
        np.minimum.at(out.counts[:, :, TEMP_MIN], (th, tb), scaled)
    for h, lo, hi in offline_ranges:
        out.counts[h, lo:hi, OFFLINE] = 1
    return out


def _kinds_moved(room: str | None) -> list[int]:
    here = _ROOM_SIGNAL.get(room_kind(room))
    return [MOTION_ANY] if here is None else [MOTION_ANY, here]


def _kinds(r: Reading, fitted: Fitted | None) -> list[int]:
    """The stateless signals one reading counts towards."""
    v = r.values
    room = fitted.room if fitted is not None and fitted.room else r.room
    moved = _kinds_moved(room)
    if r.device_type == "motion" and v.get("occupancy") is True:
        return moved
    if r.device_type == "door" and v.get("contact") is False:  # a closed-door check-in is no activity
        if is_front_door(fitted, room, r.device_id):
            return [DOOR_OPEN]
        # A fridge, cupboard or inner door: someone is about, but a contact does not say they
        # stayed in the room, so it is never motion there. Used like an appliance it is a sign
        # of being up, except in or into the bathroom or bedroom: a night trip to the toilet.
        where = {room_kind(room), room_kind(r.device_id)}
        return [MOTION_ANY] if where & {"bathroom", "toilet", "bedroom"} else [KETTLE]
    if r.device_type == "flush" and v.get("flush") is True:
        # Someone in the bathroom, wherever the sensor is recorded: it counts as movement there.
        return [MOTION_ANY, MOTION_BATHROOM, FLUSH]
    if r.device_type == "plug" and isinstance(v.get("power"), (int, float)) and v["power"] >= KETTLE_MIN_W:
        return [KETTLE]
    if r.device_type == "pendant" and "action" in v:  # a check-in carries no action
        return [PENDANT]
    return []


def _state_changes(
    stateful: list[Reading], row: dict[str, int], out: Signals,
    homes: list[int], buckets: list[int], kinds: list[int],
) -> list[tuple[int, int, int]]:
    """Append bed and chair state changes to the index lists; return the hub's offline bucket ranges."""
    last: dict[tuple[str, str], object] = {}
    went_offline: dict[int, int] = {}
    ranges: list[tuple[int, int, int]] = []
    for r in sorted(stateful, key=lambda r: r.ts):
        h, b = row[r.home_id], max(0, out.index_of(r.ts))  # a state from before the range holds at its start
        if r.device_type in ("bed", "chair"):
            state = r.values.get("occupancy")
            key = (r.home_id, r.device_id)
            if key in last and last[key] != state and isinstance(state, bool) and r.ts >= out.start:
                if r.device_type == "bed":
                    changed = [BED_IN if state else BED_OUT]
                else:
                    changed = [SEAT] if state else _kinds_moved(r.room)
                homes += [h] * len(changed)
                buckets += [b] * len(changed)
                kinds += changed
            last[key] = state
        elif r.values.get("status") == "offline":
            went_offline.setdefault(h, b)
        elif r.values.get("status") == "online" and h in went_offline:
            lo = went_offline.pop(h)
            if r.ts >= out.start:
                ranges.append((h, lo, b + 1))
    # Still offline at the end of the batch.
    ranges += [(h, b, out.n_buckets) for h, b in went_offline.items()]
    return ranges
