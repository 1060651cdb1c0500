"""How well the activity rules work on homes: false alerts on normal days, and injected anomalies
found or missed.

Each home is replayed day by day through the alert service's own code (``alerts.replay``: the
nightly learning, then the rule passes), once as it was and once for each injected anomaly:
not getting up, the front door at 03:10, three nights of extra bathroom visits, and no movement
from 10:00 (as after a fall). Printed per home: false alerts per 30 days on normal days from
day 8, by rule, and for each anomaly whether its alert came and how long after.

Homes: simulated ones (always), and a real one when its data folder is given: the Ordóñez
home A log (UCI dataset 271, CC BY 4.0: ``OrdonezA_Sensors.txt``), as it was and again with
only its contact, flush and appliance sensors (a kit with no motion, bed or chair sensor).

Usage: python bench/detection.py --ordonez DIR [--sim-homes 4] [--sim-days 36]
       python bench/detection.py --simulated-only
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from tecwatch.alerts.patterns import PatternAlert
from tecwatch.alerts.replay import replay
from tecwatch.alerts.signals import Fitted, signals_from_readings
from tecwatch.devices import Channel, Reading, make_reading
from tecwatch.simulators.encode import PlatformEncoder
from tecwatch.simulators.home import make_home
from tecwatch.simulators.routine import ground_truth, simulate_range
from tecwatch.simulators.scenarios import Scenario, ScenarioKind

MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
SCORED_FROM_DAY = 8  # a home's first week is for learning
FALSE_RULES = ("no_activity", "not_up", "door_at_night", "night_bathroom_increase", "long_stay")
KINDS = ("not_up", "door_03:10", "bathroom_nights", "still_from_10:00")
EXPECTED = {"not_up": "not_up", "door_03:10": "door_at_night", "bathroom_nights": "night_bathroom_increase",
            "still_from_10:00": "no_activity"}
# Any of these rules says "something is wrong" about a person who does not move.
STILL_RULES = ("no_activity", "long_stay", "not_up")
PIR_REPEAT = timedelta(seconds=60)  # a PIR re-reports occupancy about this often while someone moves

# The Ordóñez home's sensors as they would be enrolled: (device type, room, contact role).
ORDONEZ_DEVICES = {
    "Basin": ("motion", "bathroom", None), "Shower": ("motion", "bathroom", None),
    "Cooktop": ("motion", "kitchen", None), "Maindoor": ("door", "hall", "entrance_door"),
    "Fridge": ("door", "kitchen", "fridge"), "Cupboard": ("door", "kitchen", "cupboard"),
    "Cabinet": ("door", "bathroom", "medicine_cabinet"), "Seat": ("chair", "lounge", None),
    "Bed": ("bed", "bedroom", None), "Microwave": ("plug", "kitchen", None), "Toaster": ("plug", "kitchen", None),
    "Toilet": ("flush", "bathroom", None),
}
ORDONEZ_TZ = "Europe/Madrid"


@dataclass(frozen=True)
class Injected:
    home_id: str  # the copy of the home it was injected into
    kind: str
    start: datetime  # UTC: when it began
    reference: datetime  # UTC: what the delay is measured from
    window_end: datetime  # an alert after this is not counted as finding it


@dataclass(frozen=True)
class Home:
    name: str
    tz: str
    readings: list[Reading]
    injected: list[Injected]
    first_day: date  # local: day 1
    days: int
    fitted: dict[tuple[str, str], Fitted] | None = None  # rooms and roles as enrolled


# -- the real home ----------------------------------------------------------------------------

Interval = tuple[datetime, datetime, str]  # local naive start, end, sensor


def read_ordonez(folder: Path) -> list[Interval]:
    path = folder / "OrdonezA_Sensors.txt"
    if not path.is_file():
        raise SystemExit(f"detection: no {path.name} in {folder} (give --ordonez the folder holding it)")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[2:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        start = datetime.fromisoformat(f"{parts[0]} {parts[1]}")
        end = datetime.fromisoformat(f"{parts[2]} {parts[3]}")
        out.append((start, end, parts[4]))
    return sorted(out)


def _at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day) + timedelta(hours=hh, minutes=mm)


def stay_in_bed(ivs: list[Interval], d: date, until: datetime) -> tuple[list[Interval], datetime]:
    """Nothing but the bed until ``until`` on day ``d``; returns the log and when they really got up."""
    bed = next(iv for iv in ivs if iv[2] == "Bed" and iv[1].date() == d)
    out = [iv for iv in ivs if not (bed[1] <= iv[0] < until) and iv != bed] + [(bed[0], until, "Bed")]
    return sorted(out), bed[1]


def door_at(ivs: list[Interval], t: datetime) -> list[Interval]:
    return sorted(ivs + [(t, t + timedelta(seconds=20), "Maindoor"), (t + 25 * MIN, t + 25 * MIN + 15 * timedelta(seconds=1), "Maindoor")])


def bathroom_nights(ivs: list[Interval], nights: list[date]) -> list[Interval]:
    """Four extra trips to the bathroom (out of bed, basin, flush, back) in each of these nights."""
    out = list(ivs)
    for night in nights:
        for hh, mm in ((3, 0), (4, 10), (5, 20), (6, 30)):
            t = _at(night + DAY, hh, mm)
            for iv in [iv for iv in out if iv[2] == "Bed" and iv[0] < t < iv[1]]:
                out.remove(iv)
                out += [(iv[0], t - MIN, "Bed"), (t + 6 * MIN, iv[1], "Bed")]
            out += [(t, t + 4 * MIN, "Basin"), (t + 3 * MIN, t + 3 * MIN + 20 * timedelta(seconds=1), "Toilet")]
    return sorted(out)


def still_from(ivs: list[Interval], t: datetime, until: datetime) -> list[Interval]:
    """Nothing moves from ``t`` until ``until`` (ongoing stays end at ``t``)."""
    out = []
    for s, e, name in ivs:
        if t <= s < until:
            continue
        out.append((s, min(e, t) if s < t else e, name))
    return sorted(out)


def ordonez_readings(home_id: str, ivs: list[Interval]) -> list[Reading]:
    zone = ZoneInfo(ORDONEZ_TZ)
    out: list[Reading] = []

    def emit(t: datetime, name: str, **values) -> None:
        kind, room, _role = ORDONEZ_DEVICES[name]
        utc = t.replace(tzinfo=zone).astimezone(timezone.utc)
        out.append(make_reading(home_id=home_id, device_id=name.lower(), device_type=kind, channel=Channel.READING,
                                ts=utc, seq=None, room=room, values=values))

    # Installed the evening before the log begins: the bed and the chair report their state when
    # paired (a state sensor's first reading is its state, not a change), as at a real installation.
    installed = datetime.combine(ivs[0][0].date() - DAY, datetime.min.time()) + 20 * HOUR
    for name, (kind, _room, _role) in ORDONEZ_DEVICES.items():
        if kind in ("bed", "chair"):
            emit(installed, name, occupancy=False)
    for start, end, name in ivs:
        if name not in ORDONEZ_DEVICES:
            continue
        kind = ORDONEZ_DEVICES[name][0]
        if kind == "motion":
            t = start
            while t < end or t == start:
                emit(t, name, occupancy=True)
                t += PIR_REPEAT
            emit(end + 90 * timedelta(seconds=1), name, occupancy=False)
        elif kind == "door":
            emit(start, name, contact=False)
            emit(end, name, contact=True)
        elif kind in ("bed", "chair"):
            emit(start, name, occupancy=True)
            emit(end, name, occupancy=False)
        elif kind == "flush":
            emit(start, name, flush=True)
        else:
            emit(start, name, power=900.0)
            emit(end, name, power=0.0)
    return sorted(out, key=lambda r: r.ts)


# The same home with only what a contact-sensor kit sees: no motion, bed or chair sensors.
CONTACT_KIT = frozenset({"Maindoor", "Fridge", "Cupboard", "Cabinet", "Toilet", "Microwave", "Toaster"})


def ordonez_homes(folder: Path, kit: frozenset[str] | None = None) -> list[Home]:
    """The real home as it was and with each anomaly injected; with ``kit``, only those sensors."""
    ivs = read_ordonez(folder)
    first = ivs[0][0].date()
    days = (ivs[-1][1].date() - first).days  # whole days: the log stops early on its last morning
    zone = ZoneInfo(ORDONEZ_TZ)

    def utc(t: datetime) -> datetime:
        return t.replace(tzinfo=zone).astimezone(timezone.utc)

    d = [first + timedelta(days=n) for n in range(days)]  # d[0] is day 1
    name = "ordonez-a" if kit is None else "ordonez-a-contacts"
    variants: list[tuple[str, list[Interval], Injected | None]] = [(name, ivs, None)]
    late, woke = stay_in_bed(ivs, d[9], _at(d[9], 14))
    variants.append((f"{name}.not_up", late, Injected(f"{name}.not_up", "not_up", utc(woke), utc(woke),
                                                      utc(_at(d[9], 14)))))
    door = _at(d[10], 3, 10)
    variants.append((f"{name}.door", door_at(ivs, door),
                     Injected(f"{name}.door", "door_03:10", utc(door), utc(door), utc(door + 2 * HOUR))))
    nights = [d[9], d[10], d[11]]
    noon = utc(_at(d[12], 12))
    variants.append((f"{name}.bathroom", bathroom_nights(ivs, nights),
                     Injected(f"{name}.bathroom", "bathroom_nights", utc(_at(nights[0], 20)), noon, noon + 12 * HOUR)))
    still = _at(d[12], 10)
    variants.append((f"{name}.still", still_from(ivs, still, still + 10 * HOUR),
                     Injected(f"{name}.still", "still_from_10:00", utc(still), utc(still), utc(still + 10 * HOUR))))
    kept = set(ORDONEZ_DEVICES) if kit is None else kit
    return [Home(home_id, ORDONEZ_TZ, ordonez_readings(home_id, [iv for iv in log if iv[2] in kept]),
                 [inj] if inj else [], first, days,
                 {(home_id, sensor.lower()): Fitted(room, role) for sensor, (_t, room, role) in ORDONEZ_DEVICES.items()
                  if sensor in kept})
            for home_id, log, inj in variants]


# -- simulated homes --------------------------------------------------------------------------

SIM_SEED, SIM_START, SIM_TZ = 23, date(2025, 10, 6), "Europe/London"


def simulated_homes(n: int, days: int) -> list[Home]:
    homes = []
    for i in range(1, n + 1):
        base = make_home(SIM_SEED, i, SIM_TZ)
        day = days - 8 + i % 4  # the anomalies land on scored days
        plans = {
            "": [],
            ".not_up": [Scenario(ScenarioKind.NOT_GETTING_UP, base.home_id, day)],
            ".door": [Scenario(ScenarioKind.NIGHT_WANDERING, base.home_id, day, at=datetime(1, 1, 1, 3, 10).time())],
            ".bathroom": [Scenario(ScenarioKind.NIGHT_BATHROOM, base.home_id, day - 3)],
            ".still": [Scenario(ScenarioKind.FALL, base.home_id, day, at=datetime(1, 1, 1, 10, 0).time(),
                                with_detector=False)],
        }
        kinds = {".not_up": "not_up", ".door": "door_03:10", ".bathroom": "bathroom_nights", ".still": "still_from_10:00"}
        for suffix, scenarios in plans.items():
            home = replace(base, home_id=base.home_id + suffix)
            scs = [replace(s, home_id=home.home_id) for s in scenarios]
            encoder = PlatformEncoder()
            readings = [encoder.reading(home, e) for e in simulate_range(home, SIM_START, 1, days, SIM_SEED, scs)]
            injected = []
            for t in ground_truth([home], SIM_START, days, SIM_SEED, scs):
                kind = kinds[suffix]
                ref = noon_after(t.end, home.tz) if kind == "bathroom_nights" else t.start
                injected.append(Injected(home.home_id, kind, t.start, ref,
                                         ref + (12 * HOUR if kind == "bathroom_nights" else 10 * HOUR)))
            homes.append(Home(home.home_id, SIM_TZ, readings, injected, SIM_START, days))
    return homes


def noon_after(t: datetime, tz: str) -> datetime:
    """Noon (local) of the day ``t`` falls on: when more night visits should have been seen."""
    local = t.astimezone(ZoneInfo(tz))
    return local.replace(hour=12, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


# -- scoring ----------------------------------------------------------------------------------


def run(homes: list[Home]) -> dict[str, list[PatternAlert]]:
    """Replay homes that share a zone together, as one alert worker would."""
    out: dict[str, list[PatternAlert]] = {}
    for tz in sorted({h.tz for h in homes}):
        group = [h for h in homes if h.tz == tz]
        zone = ZoneInfo(tz)
        first = min(h.first_day for h in group)
        last = max(h.first_day + timedelta(days=h.days) for h in group)
        start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(timezone.utc)
        end = datetime(last.year, last.month, last.day, tzinfo=zone).astimezone(timezone.utc)
        readings = [r for h in group for r in h.readings]
        fitted = {k: v for h in group for k, v in (h.fitted or {}).items()}
        signals = signals_from_readings(readings, [h.name for h in group], start, end, fitted=fitted)
        result = replay(signals, start, end, tz)
        for h in group:
            out[h.name] = [a for a in result.alerts if a.home_id == h.name]
    return out


def report(homes: list[Home], alerts: dict[str, list[PatternAlert]]) -> None:
    clean = [h for h in homes if not h.injected]
    for home in clean:
        zone = ZoneInfo(home.tz)
        scored_days = home.days - (SCORED_FROM_DAY - 1)
        false = [a for a in alerts[home.name] if a.rule in FALSE_RULES
                 and SCORED_FROM_DAY <= (a.at.astimezone(zone).date() - home.first_day).days + 1 <= home.days]
        by_rule = Counter(a.rule for a in false)
        per30 = len(false) / scored_days * 30
        rules = ", ".join(f"{r} {n / scored_days * 30:.1f}" for r, n in sorted(by_rule.items())) or "none"
        print(f"{home.name}: {per30:.1f} false alerts per 30 days on {scored_days} normal days from day "
              f"{SCORED_FROM_DAY} ({rules})")
        for a in false:
            print(f"    false  {a.at.astimezone(zone):%a %d %b %H:%M}  {a.rule:22} {a.reason}")
        for variant in [h for h in homes if h.injected and h.name.split(".")[0] == home.name]:
            for inj in variant.injected:
                print("  " + finding(inj, alerts[variant.name], zone))


def finding(inj: Injected, alerts: list[PatternAlert], zone: ZoneInfo) -> str:
    rules = STILL_RULES if inj.kind == "still_from_10:00" else (EXPECTED[inj.kind],)
    found = sorted((a for a in alerts if a.rule in rules and inj.start - 5 * MIN <= a.at <= inj.window_end),
                   key=lambda a: a.at)
    when = f"{inj.kind:17} ({inj.start.astimezone(zone):%a %d %b %H:%M})"
    if not found:
        return f"{when}: MISSED"
    a = found[0]
    minutes = (a.at - inj.reference) / MIN
    sign = "-" if minutes < 0 else "+"
    delay = f"{sign}{int(abs(minutes)) // 60} h {int(abs(minutes)) % 60:02d}"
    early = [x for x in alerts if x.rule == EXPECTED[inj.kind] and inj.start - DAY <= x.at < inj.start - 5 * MIN]
    note = f"; {len(early)} {EXPECTED[inj.kind]} in the day before it began" if early else ""
    if a.rule == "not_up":
        # The target is set from the person's usual latest wake time, not from this morning's.
        local = a.at.astimezone(zone)
        hh, mm = (int(x) for x in a.detail["usual_up_by"].split(":"))
        after = local.hour * 60 + local.minute - (hh * 60 + mm)
        note += f"; {after // 60} h {after % 60:02d} after the usual latest wake ({a.detail['usual_up_by']})"
    return f"{when}: found by {a.rule} at {a.at.astimezone(zone):%H:%M} ({delay}){note}: {a.reason}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ordonez", type=Path, help="folder holding OrdonezA_Sensors.txt")
    parser.add_argument("--simulated-only", action="store_true", help="only the simulated homes")
    parser.add_argument("--sim-homes", type=int, default=4)
    parser.add_argument("--sim-days", type=int, default=36)
    args = parser.parse_args()
    if args.ordonez is None and not args.simulated_only:
        parser.error("--ordonez DIR is required (the folder with OrdonezA_Sensors.txt), or give --simulated-only")
    if args.ordonez is not None and not args.ordonez.is_dir():
        parser.error(f"--ordonez: {args.ordonez} is not a folder")
    t0 = time.perf_counter()
    homes = simulated_homes(args.sim_homes, args.sim_days)
    if args.ordonez is not None:
        homes += ordonez_homes(args.ordonez) + ordonez_homes(args.ordonez, CONTACT_KIT)
    t1 = time.perf_counter()
    alerts = run(homes)
    t2 = time.perf_counter()
    report(homes, alerts)
    print(f"({len(homes)} home copies; built in {t1 - t0:.1f} s, replayed in {t2 - t1:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
