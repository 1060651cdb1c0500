"""Scenarios injected into simulated homes, and the ground truth they leave behind.

A scenario on the command line reads ``KIND:HOME[@[dN][T]HH:MM][+DURATION]``, e.g.
``fall:home-3@d2T08:30`` or ``cold_home:home-1@d3T18:00+6h``.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tecwatch.devices.payloads import ID_PATTERN

from .home import BED, OUT, SimHome, Stay, at_local


class ScenarioKind(StrEnum):
    FALL = "fall"
    NOT_GETTING_UP = "not_getting_up"
    NIGHT_WANDERING = "night_wandering"
    NIGHT_BATHROOM = "night_bathroom"
    COLD_HOME = "cold_home"
    PENDANT_PRESS = "pendant_press"
    HUB_OFFLINE = "hub_offline"
    LOW_BATTERY = "low_battery"
    FLOOD = "flood"


K = ScenarioKind

# The alert the platform should raise for each kind.
EXPECTED_ALERT: MappingProxyType[ScenarioKind, str] = MappingProxyType({
    K.FALL: "no_activity",  # "fall_detected" when a fall detector reports it
    K.NOT_GETTING_UP: "not_up",
    K.NIGHT_WANDERING: "door_at_night",
    K.NIGHT_BATHROOM: "night_bathroom_increase",
    K.COLD_HOME: "cold_home",
    K.PENDANT_PRESS: "pendant",
    K.HUB_OFFLINE: "hub_offline",
    K.LOW_BATTERY: "low_battery",
    K.FLOOD: "flood",
})

# None: the time depends on the resident (not_getting_up: their usual wake time;
# night_bathroom: their bedtime).
DEFAULT_AT: MappingProxyType[ScenarioKind, time | None] = MappingProxyType({
    K.FALL: time(10, 30),
    K.NOT_GETTING_UP: None,
    K.NIGHT_WANDERING: time(2, 30),
    K.NIGHT_BATHROOM: None,
    K.COLD_HOME: time(16, 0),
    K.PENDANT_PRESS: time(11, 15),
    K.HUB_OFFLINE: time(10, 0),
    K.LOW_BATTERY: time(9, 0),
    K.FLOOD: time(14, 0),
})

# None: night_wandering picks 10-30 minutes out; low_battery lasts until the end.
DEFAULT_DURATION: MappingProxyType[ScenarioKind, timedelta | None] = MappingProxyType({
    K.FALL: timedelta(hours=12),
    K.NOT_GETTING_UP: timedelta(hours=4),
    K.NIGHT_WANDERING: None,
    K.NIGHT_BATHROOM: timedelta(days=3),
    K.COLD_HOME: timedelta(hours=8),
    K.PENDANT_PRESS: timedelta(0),
    K.HUB_OFFLINE: timedelta(hours=2),
    K.LOW_BATTERY: None,
    K.FLOOD: timedelta(hours=1),
})


@dataclass(frozen=True)
class Scenario:
    kind: ScenarioKind
    home_id: str
    day: int = 1  # 1-based day of the simulation
    at: time | None = None  # local time; None = the kind's natural default
    duration: timedelta | None = None  # None = the kind's default
    with_detector: bool = True  # fall: a fall detector, when fitted, reports it

    def spec(self) -> str:
        """The command-line form of this scenario."""
        s = f"{self.kind}:{self.home_id}@d{self.day}"
        if self.at is not None:
            s += f"T{self.at:%H:%M}"
        if self.duration is not None:
            s += f"+{format_duration(self.duration)}"
        return s


_SPEC = re.compile(r"(?P<kind>[^:]+):(?P<home>[^@+]+)(?:@(?P<when>[^+]*))?(?:\+(?P<dur>.*))?")
_WHEN = re.compile(r"(?:d(?P<day>[^T]*))?(?:T?(?P<time>.+))?")
_DURATION = re.compile(r"(\d+)([dhms])")
_UNIT_S = MappingProxyType({"d": 86400, "h": 3600, "m": 60, "s": 1})
_HOME_ID = re.compile(ID_PATTERN)


def parse_duration(text: str) -> timedelta:
    """``90m``, ``6h``, ``3d`` or combinations such as ``1h30m``."""
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}: expected a whole number with d, h, m or s, e.g. 90m, 6h, 3d")
    total = timedelta(seconds=sum(int(n) * _UNIT_S[u] for n, u in parts))
    if total <= timedelta(0):
        raise ValueError(f"bad duration {text!r}: must be longer than zero")
    return total


def format_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    out = ""
    for unit, size in _UNIT_S.items():
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out or "0s"


def parse_scenario(spec: str) -> Scenario:
    m = _SPEC.fullmatch(spec.strip())
    if m is None:
        raise ValueError(
            f"bad scenario {spec!r}: expected KIND:HOME[@[dN][T]HH:MM][+DURATION], e.g. fall:home-3@d2T08:30")
    try:
        kind = ScenarioKind(m["kind"])
    except ValueError:
        known = ", ".join(k.value for k in ScenarioKind)
        raise ValueError(f"unknown scenario kind {m['kind']!r} in {spec!r}; known kinds: {known}") from None
    if not _HOME_ID.match(m["home"]):
        raise ValueError(f"bad home id {m['home']!r} in {spec!r}")
    day, at = 1, None
    if m["when"] is not None:
        w = _WHEN.fullmatch(m["when"])
        if w is None or not (w["day"] or w["time"]):
            raise ValueError(f"bad time {m['when']!r} in {spec!r}: expected HH:MM, dN or dNTHH:MM")
        if w["day"] is not None:
            if not w["day"].isdigit() or int(w["day"]) < 1:
                raise ValueError(f"bad day 'd{w['day']}' in {spec!r}: expected d1, d2, ... (days start at 1)")
            day = int(w["day"])
        if w["time"] is not None:
            at = _parse_time(w["time"], spec)
    duration = None if m["dur"] is None else parse_duration(m["dur"])
    return Scenario(kind, m["home"], day, at, duration)


def _parse_time(text: str, spec: str) -> time:
    tm = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if tm is None or int(tm[1]) > 23 or int(tm[2]) > 59:
        raise ValueError(f"bad time {text!r} in {spec!r}: expected HH:MM between 00:00 and 23:59")
    return time(int(tm[1]), int(tm[2]))


@dataclass(frozen=True)
class GroundTruth:
    """What a scenario did, and the alert the platform should raise for it."""

    kind: ScenarioKind
    home_id: str
    start: datetime  # UTC
    end: datetime  # UTC; equal to start for a single event
    expected_alert: str
    device_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable

    def summary(self) -> str:
        return (f"{self.kind} in {self.home_id}: {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC "
                f"(expect {self.expected_alert})")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroundTruth:
        return cls(
            ScenarioKind(d["kind"]), d["home_id"], datetime.fromisoformat(d["start"]),
            datetime.fromisoformat(d["end"]), d["expected_alert"], d.get("device_id"), dict(d.get("detail") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        return cls.from_dict(json.loads(text))


def ms(t: datetime) -> datetime:
    """``t`` truncated to whole milliseconds, as devices report time."""
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


@dataclass(frozen=True)
class Active:
    """A scenario placed in absolute time in one home."""

    scenario: Scenario
    start: datetime  # UTC
    end: datetime
    out_minutes: float = 0.0  # night_wandering: time outside
    nights: tuple[date, ...] = ()  # night_bathroom: the dates the affected nights begin
    level: float = 0.0  # cold_home: temperature reached; low_battery: battery level
    device_id: str | None = None  # the device at the centre of it

    @property
    def kind(self) -> ScenarioKind:
        return self.scenario.kind


LOW_BATTERY_TYPES = ("motion", "door", "bed", "leak", "smoke")


def resolve(sc: Scenario, home: SimHome, sim_start: date, seed: int) -> Active:
    """Place ``sc`` in time for ``home`` in a simulation that begins on ``sim_start``."""
    if sc.home_id != home.home_id:
        raise ValueError(f"scenario {sc.spec()} is not for {home.home_id}")
    day = sim_start + timedelta(days=sc.day - 1)
    at = sc.at if sc.at is not None else DEFAULT_AT[sc.kind]
    minutes = home.persona.wake_mean if at is None else at.hour * 60 + at.minute
    start = at_local(home.tz, day, minutes)
    duration = sc.duration if sc.duration is not None else DEFAULT_DURATION[sc.kind]
    rng = random.Random(f"{seed}:{home.index}:scenario:{sc.spec()}")
    _check_time(sc)
    if sc.kind is K.NIGHT_WANDERING:
        out = duration.total_seconds() / 60 if duration is not None else rng.uniform(10, 30)
        # The bound of the whole excursion: bed, hall, outside, hall, bed.
        return Active(sc, start, start + timedelta(minutes=out + 12), out_minutes=out, device_id="door-front")
    if sc.kind is K.NIGHT_BATHROOM:
        assert duration is not None
        n = max(1, math.ceil(duration / timedelta(days=1)))
        nights = tuple(day + timedelta(days=i) for i in range(n))
        return Active(sc, at_local(home.tz, day, 720), at_local(home.tz, nights[-1], 2160), nights=nights,
                      device_id=home.motion_in("bathroom"))
    if sc.kind is K.LOW_BATTERY:
        choices = [d.device_id for d in home.devices if d.device_type in LOW_BATTERY_TYPES]
        end = start + duration if duration is not None else start
        return Active(sc, start, end, level=float(rng.randint(3, 9)), device_id=rng.choice(choices))
    assert duration is not None
    central = {K.PENDANT_PRESS: "pendant-1", K.HUB_OFFLINE: "gateway", K.COLD_HOME: "temp-lounge",
               K.NOT_GETTING_UP: "bed-1"}.get(sc.kind)
    if sc.kind is K.FLOOD:
        central = home.of_type("leak")[0].device_id
    if sc.kind is K.FALL:
        detectors = home.of_type("fall_detector")
        central = detectors[0].device_id if sc.with_detector and detectors else None
    return Active(sc, start, start + duration, level=round(rng.uniform(12.0, 14.0), 1), device_id=central)


def _check_time(sc: Scenario) -> None:
    if sc.kind is K.NIGHT_WANDERING and sc.at is not None and time(8) <= sc.at < time(20):
        raise ValueError(f"scenario {sc.spec()}: night_wandering must be at night (20:00-08:00)")


def write_truths(path: Path, truths: Sequence[GroundTruth]) -> None:
    """Save ground truth as a JSON list (what ``--truth`` writes)."""
    path.write_text(json.dumps([t.as_dict() for t in truths], indent=1))


def check_scenarios(scenarios: Sequence[Scenario], homes: Sequence[SimHome], days: int) -> None:
    """Raise ValueError for a scenario naming a home or a day outside the simulation."""
    ids = [h.home_id for h in homes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"home ids must be unique: {', '.join(ids)}")
    for s in scenarios:
        _check_time(s)
        if s.home_id not in ids:
            raise ValueError(f"scenario {s.spec()}: no home {s.home_id!r} in this simulation ({', '.join(ids)})")
        if not 1 <= s.day <= days:
            raise ValueError(f"scenario {s.spec()}: day {s.day} is outside the simulation (days 1..{days})")


COLD_FALL_MIN = 100.0  # a cold home reaches its low within this many minutes
WARM_PER_MIN = 0.1  # and warms back up at this many degrees a minute once the heating is back


def cold_temperature(a: Active, normal: Callable[[datetime], float], t: datetime) -> float | None:
    """The temperature at ``t`` for a failed heating (``a``), or None when it no longer applies."""
    if t < a.start:
        return None
    start_c = normal(a.start)
    falling = start_c + (a.level - start_c) * min(1.0, (min(t, a.end) - a.start) / timedelta(minutes=COLD_FALL_MIN))
    if t < a.end:
        return falling
    warming = falling + WARM_PER_MIN * ((t - a.end) / timedelta(minutes=1))
    return warming if warming < normal(t) else None


def cold_override(colds: Sequence[Active], normal: Callable[[datetime], float]) -> Callable[[datetime], float | None]:
    """The temperature where any of ``colds`` applies (the coldest), else None."""

    def temperature(t: datetime) -> float | None:
        return min((v for a in colds if (v := cold_temperature(a, normal, t)) is not None), default=None)

    return temperature


def cold_over(a: Active, normal: Callable[[datetime], float]) -> datetime:
    """When the home is back above 16.5 degrees after the heating is restored."""
    low = cold_temperature(a, normal, a.end) or 0.0
    return a.end + timedelta(minutes=max(0.0, (16.5 - low) / WARM_PER_MIN))


def fall_blackout(stays: list[Stay], boils: list[tuple[datetime, datetime]], start: datetime, resume: datetime):
    """The resident's stays with nothing from ``start`` until ``resume``: they are on the floor.

    Someone out at the time comes home and falls just inside the front door.
    """
    kept: list[Stay] = []
    for s in stays:
        if s.end <= start or s.start >= resume:
            kept.append(s)
        elif s.place == OUT:
            back = start - timedelta(seconds=20)
            if s.marks[0] < back:
                kept.append(replace(s, end=back, marks=(s.marks[0], start - timedelta(seconds=10))))
        else:
            if s.start < start:
                kept.append(replace(s, end=start, marks=tuple(m for m in s.marks if m < start)))
            if s.end > resume:
                after = tuple(m for m in s.marks if m >= resume)
                kept.append(replace(s, start=resume, marks=after if s.place == BED else (resume, *after)))
    return kept, [b for b in boils if not start <= b[0] < resume]


def truth(a: Active, home: SimHome, window: tuple[datetime, datetime] | None = None, **detail: Any) -> GroundTruth:
    """The ground truth of ``a``; ``window`` when the data places it more precisely than the scenario does."""
    start, end = window or (a.start, a.end)
    p, minutes = home.persona, round((a.end - a.start) / timedelta(minutes=1), 1)
    alert = "fall_detected" if a.kind is K.FALL and a.device_id else EXPECTED_ALERT[a.kind]
    base: dict[str, Any] = {
        K.FALL: {"with_detector": a.device_id is not None, "help_arrives": a.end.isoformat()},
        K.NOT_GETTING_UP: {"usual_wake": f"{int(p.wake_mean) // 60:02d}:{int(p.wake_mean) % 60:02d}",
                           "got_up": a.end.isoformat()},
        K.NIGHT_BATHROOM: {"nights": [d.isoformat() for d in a.nights], "usual_mean": p.night_visits_mean},
        K.COLD_HOME: {"heating_restored": a.end.isoformat()},
        K.LOW_BATTERY: {"battery": a.level, "replaced": a.end.isoformat() if a.end > a.start else None},
        K.HUB_OFFLINE: {"minutes": minutes},
        K.FLOOD: {"minutes": minutes},
    }.get(a.kind, {})
    return GroundTruth(a.kind, home.home_id, ms(start), ms(end), alert, a.device_id, {**base, **detail})
