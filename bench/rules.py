"""Activity-pattern rules at county-and-beyond scale: learning and evaluating 10,000 homes.

Signals are synthesised with numpy (a day/night routine: up at a per-home time, about, in bed
with a few bathroom trips, the odd outing), not simulated: the point is the rules' numpy cost.

Usage: python bench/rules.py [--homes 10000] [--days 28]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from tecwatch.alerts.baseline import learn
from tecwatch.alerts.patterns import evaluate
from tecwatch.alerts.signals import (
    DOOR_OPEN,
    KETTLE,
    MOTION_ANY,
    MOTION_BATHROOM,
    MOTION_BEDROOM,
    MOTION_KITCHEN,
    TEMP_MIN,
    TEMP_OFFSET_C,
    Signals,
    empty,
)

LEARN_TARGET_S, EVALUATE_TARGET_S = 60.0, 1.0


def synthesise(homes: int, days: int, seed: int = 1) -> Signals:
    start = datetime(2025, 1, 6, tzinfo=UTC)  # winter: local time is UTC
    sig = empty([f"home-{i}" for i in range(1, homes + 1)], start, start + timedelta(days=days))
    rng = np.random.default_rng(seed)
    per_day = 288
    minute = (np.arange(sig.n_buckets) % per_day) * 5.0
    wake = rng.normal(420, 40, (homes, 1)) + rng.normal(0, 20, (homes, days)).repeat(per_day, axis=1)
    bed = rng.normal(1350, 40, (homes, 1)) + rng.normal(0, 20, (homes, days)).repeat(per_day, axis=1)
    up = (minute >= wake) & (minute < bed)
    c = sig.counts
    about = up & (rng.random(up.shape) < 0.8)
    night_trip = ~up & (rng.random(up.shape) < 0.004)
    c[:, :, MOTION_ANY] = about + night_trip
    c[:, :, MOTION_BATHROOM] = (about & (rng.random(up.shape) < 0.15)) | night_trip
    c[:, :, MOTION_KITCHEN] = about & (rng.random(up.shape) < 0.2)
    c[:, :, MOTION_BEDROOM] = about & (rng.random(up.shape) < 0.1)
    c[:, :, KETTLE] = about & (rng.random(up.shape) < 0.02)
    c[:, :, DOOR_OPEN] = about & (rng.random(up.shape) < 0.003)
    temps = np.where(up, 20.0, 18.0) + rng.normal(0, 0.3, up.shape)
    reading = (np.arange(sig.n_buckets) % 6) == 0  # a temperature every 30 minutes
    c[:, :, TEMP_MIN] = np.where(reading, np.round((temps + TEMP_OFFSET_C) * 10), c[:, :, TEMP_MIN])
    return sig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args()

    t0 = time.perf_counter()
    sig = synthesise(args.homes, args.days + 4)
    t1 = time.perf_counter()
    history = sig.window(sig.start, sig.start + timedelta(days=args.days))
    base = learn(history, "Europe/London", days=args.days)
    t2 = time.perf_counter()
    now = sig.end - timedelta(hours=12)  # noon of the last day: every rule has something to look at
    alerts = evaluate(sig, base, now)
    t3 = time.perf_counter()

    cells = args.homes * history.n_buckets
    learn_s, eval_s = t2 - t1, t3 - t2
    print(f"signals: {args.homes} homes x {args.days + 4} days x 5 min, {sig.counts.nbytes / 1e6:.0f} MB,"
          f" synthesised in {t1 - t0:.1f} s")
    print(f"learn:    {learn_s:6.2f} s for {args.homes} homes x {args.days} days "
          f"({cells / learn_s / 1e6:.1f} M home-buckets/s); {learn_s / LEARN_TARGET_S:.1%} of the {LEARN_TARGET_S:.0f} s target;"
          f" {int(base.learned.sum())} homes learned")
    print(f"evaluate: {eval_s:6.3f} s for one pass over {args.homes} homes; "
          f"{eval_s / EVALUATE_TARGET_S:.1%} of the {EVALUATE_TARGET_S:.0f} s target; {len(alerts)} alerts")


if __name__ == "__main__":
    main()
