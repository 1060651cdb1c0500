"""Simulated homes: the resident's habits, the devices fitted and the heating.

Everything here is a pure function of its seed, so a home can be rebuilt anywhere.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tecwatch.devices import DEVICE_TYPES
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID, Value

HALL, KITCHEN, LOUNGE, BATHROOM, BEDROOM = "hall", "kitchen", "lounge", "bathroom", "bedroom"
ROOMS: tuple[str, ...] = (HALL, KITCHEN, LOUNGE, BATHROOM, BEDROOM)


@dataclass(frozen=True)
class Persona:
    """A resident's habits. Times are local minutes after midnight; ``sd`` is day-to-day spread."""

    label: str
    wake_mean: float
    wake_sd: float
    bed_mean: float  # past 1440 means after midnight
    bed_sd: float
    breakfast_after: float  # minutes after getting up
    lunch_mean: float
    dinner_mean: float
    meal_sd: float
    kettle_per_day: float
    night_visits_mean: float  # Poisson mean of bathroom visits per night
    outing_prob: float  # chance of going out on a given day
    outing_earliest: float
    outing_latest: float
    outing_mean: float  # minutes out
    outing_sd: float
    active_gap: float  # mean minutes between motion re-triggers while up and about
    lounge_gap: float  # the same while sitting in the lounge


ARCHETYPES: tuple[Persona, ...] = (
    Persona("early riser", 360, 15, 1305, 20, 30, 720, 1050, 15, 6, 1.0, 0.5, 570, 690, 120, 40, 3, 12),
    Persona("night owl", 540, 30, 1470, 30, 45, 810, 1170, 20, 5, 0.6, 0.4, 720, 900, 150, 50, 4, 15),
    Persona("frail", 450, 25, 1290, 25, 40, 750, 1050, 20, 4, 2.2, 0.15, 630, 810, 70, 20, 6, 20),
    Persona("active", 405, 20, 1365, 25, 25, 750, 1110, 15, 6, 0.8, 0.75, 540, 840, 180, 60, 2, 10),
)


def make_persona(rng: random.Random) -> Persona:
    """One archetype, jittered so that no two homes keep quite the same hours."""
    base = rng.choice(ARCHETYPES)
    return replace(
        base,
        wake_mean=round(base.wake_mean + rng.gauss(0, 15)),
        wake_sd=round(base.wake_sd * rng.uniform(0.8, 1.25), 1),
        bed_mean=round(base.bed_mean + rng.gauss(0, 15)),
        bed_sd=round(base.bed_sd * rng.uniform(0.8, 1.25), 1),
        lunch_mean=round(base.lunch_mean + rng.gauss(0, 10)),
        dinner_mean=round(base.dinner_mean + rng.gauss(0, 10)),
        kettle_per_day=round(base.kettle_per_day * rng.uniform(0.8, 1.2), 1),
        night_visits_mean=round(base.night_visits_mean * rng.uniform(0.8, 1.25), 2),
        outing_prob=round(min(0.9, max(0.1, base.outing_prob + rng.uniform(-0.1, 0.1))), 2),
        active_gap=round(base.active_gap * rng.uniform(0.8, 1.25), 1),
        lounge_gap=round(base.lounge_gap * rng.uniform(0.8, 1.25), 1),
    )


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    device_type: str  # a key of DEVICE_TYPES
    room: str
    friendly_name: str  # Zigbee2MQTT style


@dataclass(frozen=True)
class SimHome:
    home_id: str
    persona: Persona
    devices: tuple[SimDevice, ...]
    tz: str = "Europe/London"
    index: int = 1

    def device(self, device_id: str) -> SimDevice | None:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        return None

    def of_type(self, device_type: str) -> tuple[SimDevice, ...]:
        return tuple(d for d in self.devices if d.device_type == device_type)

    def type_of(self, device_id: str) -> str:
        """The device type of one of this home's device ids (the gateway included)."""
        if device_id == GATEWAY_DEVICE_ID:
            return "gateway"
        d = self.device(device_id)
        if d is None:
            raise KeyError(f"{self.home_id} has no device {device_id!r}")
        return d.device_type

    def motion_in(self, room: str) -> str:
        return next(d.device_id for d in self.devices if d.device_type == "motion" and d.room == room)


def make_home(seed: int, index: int, tz: str = "Europe/London") -> SimHome:
    """Home ``home-{index}``: the same (seed, index) always builds the same home."""
    if index < 1:
        raise ValueError(f"home index must be 1 or more, not {index}")
    ZoneInfo(tz)  # fail early on an unknown zone
    rng = random.Random(f"{seed}:home:{index}")
    persona = make_persona(rng)
    devices = [SimDevice(f"pir-{room}", "motion", room, f"{room.title()} motion") for room in ROOMS]
    devices += [
        SimDevice("door-front", "door", HALL, "Front door"),
        SimDevice("bed-1", "bed", BEDROOM, "Bed sensor"),
        SimDevice("plug-kettle", "plug", KITCHEN, "Kettle plug"),
        SimDevice("temp-lounge", "temperature", LOUNGE, "Lounge temperature"),
    ]
    if rng.random() < 0.5:
        devices.append(SimDevice("temp-bedroom", "temperature", BEDROOM, "Bedroom temperature"))
    leak_room = rng.choice((KITCHEN, BATHROOM))
    devices += [
        SimDevice("pendant-1", "pendant", LOUNGE, "Pendant"),
        SimDevice(f"leak-{leak_room}", "leak", leak_room, f"{leak_room.title()} leak sensor"),
        SimDevice("smoke-hall", "smoke", HALL, "Hall smoke alarm"),
    ]
    if rng.random() < 0.4:
        devices.append(SimDevice("fall-1", "fall_detector", LOUNGE, "Fall detector"))
    if rng.random() < 0.5:
        devices.append(SimDevice("flush-1", "flush", BATHROOM, "Toilet flush"))
    return SimHome(f"home-{index}", persona, tuple(devices), tz, index)


def at_local(tz: str, d: date, minutes: float) -> datetime:
    """UTC time of ``minutes`` of wall-clock time after local midnight of ``d`` (may pass 24 h)."""
    local = datetime.combine(d, time(), tzinfo=ZoneInfo(tz)) + timedelta(minutes=minutes)
    return local.astimezone(UTC)


def local_minutes(tz: str, t: datetime) -> tuple[date, float]:
    """The local date of ``t`` and the wall-clock minutes since that date's midnight."""
    loc = t.astimezone(ZoneInfo(tz))
    return loc.date(), loc.hour * 60 + loc.minute + loc.second / 60 + loc.microsecond / 6e7


@dataclass(frozen=True)
class Heating:
    """A home's heating schedule and a few fixed traits of the house."""

    on_min: float  # heating comes on (local minutes)
    off_min: float  # and goes off for the night
    day_c: float  # daytime room temperature
    floor_c: float  # the house cools towards this overnight
    humidity: float
    kettle_w: float


COOL_TAU_MIN = 240.0  # how fast the house cools once the heating is off
WARM_TAU_MIN = 25.0  # and warms once it is back on
MIN_NORMAL_C = 17.0


def heating_for(home: SimHome, seed: int) -> Heating:
    rng = random.Random(f"{seed}:{home.index}:house")
    return Heating(
        on_min=rng.uniform(360, 420),
        off_min=rng.uniform(1320, 1380),
        day_c=rng.uniform(19.6, 20.8),
        floor_c=rng.uniform(17.5, 18.0),
        humidity=rng.uniform(40, 55),
        kettle_w=float(rng.choice((1850, 2200, 2500, 3000))),
    )


def normal_temperature(home: SimHome, heating: Heating, seed: int, t: datetime) -> float:
    """Lounge temperature at ``t`` under the heating schedule, before sensor noise."""

    def target(d: date) -> float:
        # Some days are a little warmer than others (sun, doors left open...).
        return heating.day_c + random.Random(f"{seed}:{home.index}:heat:{d.toordinal()}").uniform(-0.4, 0.4)

    def cooled(off_day: date, since_off: float) -> float:
        return heating.floor_c + (target(off_day) - heating.floor_c) * math.exp(-since_off / COOL_TAU_MIN)

    d, m = local_minutes(home.tz, t)
    if m >= heating.off_min:
        return cooled(d, m - heating.off_min)
    if m < heating.on_min:
        return cooled(d - timedelta(days=1), m + 1440 - heating.off_min)
    dawn = cooled(d - timedelta(days=1), heating.on_min + 1440 - heating.off_min)
    return target(d) + (dawn - target(d)) * math.exp(-(m - heating.on_min) / WARM_TAU_MIN)


def battery_profiles(home: SimHome, seed: int) -> dict[str, tuple[float, float]]:
    """Each battery device's level at the start of a run and how many percent it loses a month."""
    out = {}
    for d in home.devices:
        if DEVICE_TYPES[d.device_type].battery_powered:
            r = random.Random(f"{seed}:{home.index}:battery:{d.device_id}")
            out[d.device_id] = (r.uniform(55, 100), r.uniform(1, 2))
    return out


History = dict[str, tuple[list[datetime], list[Value]]]  # device id -> times, states


def state_history(events: Iterable[tuple[datetime, str, dict[str, Value]]]) -> History:
    """Each device's reported state in time order: occupancy (motion, bed) or contact (door)."""
    out: History = {}
    for t, dev, values in sorted(events, key=lambda e: e[0]):
        for name in ("occupancy", "contact"):
            if name in values:
                ts, vs = out.setdefault(dev, ([], []))
                ts.append(t)
                vs.append(values[name])
    return out


def checkin_values(history: History, device: SimDevice, t: datetime, leaking: bool = False) -> dict[str, Value]:
    """What a device says at a periodic check-in: its current state."""
    if device.device_type == "leak":
        return {"water_leak": leaking}
    if device.device_type == "smoke":
        return {"smoke": False}
    if device.device_type == "flush":
        return {"flush": False}  # a check-in is not a flush
    if device.device_type in ("pendant", "fall_detector"):
        return {}  # a button's check-in is its battery level alone
    ts, vs = history.get(device.device_id, ([], []))
    i = bisect.bisect_right(ts, t)
    name = "contact" if device.device_type == "door" else "occupancy"
    return {name: vs[i - 1] if i else device.device_type == "door"}  # closed and empty until told otherwise


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def slots(lo: datetime, hi: datetime, period_s: float, phase: float, margin_s: float = 0
          ) -> Iterator[tuple[int, datetime]]:
    """Numbered slots at EPOCH + k * period + phase * period (whole ms) that may fall in [lo, hi).

    Fixed to the epoch, so a device's schedule runs on unbroken across any day boundary.
    """
    period_ms, phase_ms, margin_ms = round(period_s * 1000), round(phase * period_s * 1000), round(margin_s * 1000)
    lo_ms, hi_ms = (lo - EPOCH) // _MS - margin_ms, (hi - EPOCH) // _MS + margin_ms
    for k in range((lo_ms - phase_ms) // period_ms, (hi_ms - phase_ms) // period_ms + 1):
        yield k, EPOCH + k * period_ms * _MS + phase_ms * _MS


def temperature_reports(
    home: SimHome, heating: Heating, seed: int, device: SimDevice, lo: datetime, hi: datetime,
    override: Callable[[datetime], float | None] = lambda t: None,
) -> list[tuple[datetime, float, float]]:
    """(time, temperature, humidity) every 30 minutes, give or take 3, in [lo, hi).

    ``override`` gives the temperature instead of the heating schedule (a failed heating).
    """
    phase = random.Random(f"{seed}:{home.index}:phase:{device.device_id}").random()
    out = []
    for k, nominal in slots(lo, hi, 1800, phase, margin_s=180):
        r = random.Random(f"{seed}:{home.index}:{device.device_id}:{k}")
        t = nominal + r.randint(-180_000, 180_000) * _MS
        if not lo <= t < hi:
            continue
        noise = max(-0.3, min(0.3, r.gauss(0, 0.15)))
        forced = override(t)
        if forced is not None:
            temp = forced + noise
        else:
            offset = -0.6 if device.room == BEDROOM else 0.0  # bedrooms are kept cooler
            temp = max(MIN_NORMAL_C, normal_temperature(home, heating, seed, t) + offset + noise)
        humidity = max(20.0, min(90.0, heating.humidity + r.gauss(0, 1.5)))
        out.append((t, round(temp, 1), round(humidity, 1)))
    return out


BED, OUT = "bed", "out"  # places that are not rooms: in bed, out of the house


@dataclass(frozen=True, slots=True)
class Stay:
    """The resident in one place for a while."""

    place: str  # a room, BED or OUT
    start: datetime
    end: datetime
    marks: tuple[datetime, ...] = ()  # motion triggers; for OUT the two door-close times


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


class Planner:
    """Lays out a stretch of the resident's time as consecutive stays, from ``t`` up to ``limit``."""

    def __init__(self, rng: random.Random, gap: float, t: datetime, limit: datetime, room: str | None) -> None:
        self.rng, self.gap, self.t, self.limit, self.room = rng, gap, t, limit, room
        self.stays: list[Stay] = []
        self.boils: list[tuple[datetime, datetime]] = []  # kettle on, off

    def go(self, room: str, minutes: float, gap: float | None = None, kettle: bool = False) -> None:
        if self.room not in (None, HALL, room) and room != HALL:
            self._stay(HALL, self.rng.uniform(0.15, 0.5), self.gap)  # every room opens off the hall
        stay = self._stay(room, minutes, gap or self.gap)
        if kettle and stay is not None:
            on = stay.start + _m(self.rng.uniform(0.3, 1.0))
            off = on + _m(self.rng.uniform(2.0, 4.0))
            if off < stay.end:
                self.boils.append((on, off))

    def _stay(self, room: str, minutes: float, gap: float) -> Stay | None:
        if self.t >= self.limit:
            return None
        end = min(self.t + _m(max(minutes, 0.1)), self.limit)
        marks, m = [], self.t + timedelta(seconds=self.rng.uniform(0, 8))
        while m < end:
            marks.append(m)
            m += _m(gap * self.rng.uniform(0.4, 1.6))
        stay = Stay(room, self.t, end, tuple(marks))
        self.stays.append(stay)
        self.t, self.room = end, room
        return stay

    def out(self, minutes: float) -> None:
        end = min(self.t + _m(minutes), self.limit)
        closes = tuple(t + timedelta(seconds=self.rng.uniform(5, 20)) for t in (self.t, end))
        self.stays.append(Stay(OUT, self.t, end, closes))
        self.t, self.room = end, OUT

    def bed(self, until: datetime) -> None:
        if until > self.t:
            self.stays.append(Stay(BED, self.t, until))
            self.t, self.room = until, BEDROOM

    def fill(self, until: datetime, kettle_q: float, lounge_gap: float) -> None:
        """Free time: long sittings in the lounge between short trips to other rooms."""
        rng = self.rng
        while (left := (until - self.t) / _m(1)) > 3 and self.t < self.limit:
            if self.room != LOUNGE:
                self.go(LOUNGE, min(left, rng.uniform(20, 90)), lounge_gap)
            elif left < 10:
                self.go(LOUNGE, left, lounge_gap)
            elif (r := rng.random()) < 0.45:
                kettle = rng.random() < kettle_q
                self.go(KITCHEN, rng.uniform(6, 10) if kettle else rng.uniform(3, 6), kettle=kettle)
            elif r < 0.75:
                self.go(BATHROOM, rng.uniform(3, 8))
            else:
                self.go(BEDROOM, rng.uniform(4, 12))


def clipped_gauss(rng: random.Random, mean: float, sd: float) -> float:
    # Clipped so that a rare draw does not give an absurd day.
    return mean + max(-2.5, min(2.5, rng.gauss(0, 1))) * sd


def poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
