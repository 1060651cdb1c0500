"""Nightly learning as the alert service runs it (`RuleRunner.learn_baselines`), store to baselines.

Two measurements:

1. County scale, steady state: 10,000 homes whose 28 finished days are already kept in the
   day cache (synthesised signals, as in bench/rules.py), through the real runner and registry.
2. A real store: N homes x 30 simulated days backfilled into SQLite. The first learning folds
   every day from raw readings (a new install); then the minute passes run through a day, and
   the next night's learning reads no raw readings, only the store's per-home counts for the
   recent days.

Usage: python bench/learning.py [--homes 10000] [--store-homes 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine
from tecwatch.alerts.scheduler import LEARN_DAYS, RuleRunner
from tecwatch.alerts.signalcache import DayCache
from tecwatch.db import make_engine
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import Home
from tecwatch.settings import AlertSettings
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home

TARGET_S = 60.0


def registry(directory: Path, home_ids: list[str]):
    engine = make_engine(f"sqlite:///{directory / 'registry.db'}")
    upgrade(engine)
    with Session(engine) as s, s.begin():
        s.add_all(Home(id=h, created_at=datetime(2025, 1, 1, tzinfo=UTC)) for h in home_ids)
    return engine


def county_scale(homes: int, directory: Path) -> None:
    from rules import synthesise  # bench/rules.py: the same synthetic routine as the numpy benchmark

    today = date(2025, 1, 6) + timedelta(days=LEARN_DAYS)
    now = datetime(today.year, today.month, today.day, 3, 30, tzinfo=UTC)
    t0 = time.perf_counter()
    sig = synthesise(homes, LEARN_DAYS)
    cache = DayCache(directory / "signals")
    per_day = 288
    for d in range(LEARN_DAYS):
        planes = np.ascontiguousarray(sig.counts[:, d * per_day:(d + 1) * per_day].transpose(2, 0, 1))
        cache.save(date(2025, 1, 6) + timedelta(days=d), sig.home_ids, planes)
    engine = registry(directory, sig.home_ids)
    store = SQLiteStore(directory / "readings.db")  # no raw readings: every day is kept
    del sig
    print(f"county scale: {homes} homes x {LEARN_DAYS} days kept in the day cache, set up in {time.perf_counter() - t0:.0f} s")
    runner = RuleRunner(store, engine, AlertEngine(engine, clock=lambda: now), AlertSettings(), clock=lambda: now,
                        cache=cache)
    t1 = time.perf_counter()
    runner.learn_baselines()
    took = time.perf_counter() - t1
    print(f"  nightly learning: {took:6.1f} s ({runner.last_sources}); {took / TARGET_S:.0%} of the {TARGET_S:.0f} s target")
    store.close()
    engine.dispose()


def real_store(homes: int, directory: Path) -> None:
    sim = [make_home(1, i) for i in range(1, homes + 1)]
    today = datetime.now(UTC).date()
    store = SQLiteStore(directory / "store.db")
    t0 = time.perf_counter()
    result = backfill(store, sim, days=30, seed=1, first_day=today - timedelta(days=30), progress=False)
    print(f"real store: {homes} homes x 30 days, {result.readings:,} readings backfilled into SQLite"
          f" in {time.perf_counter() - t0:.0f} s")
    engine = registry(directory, [h.home_id for h in sim])
    clock = [datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=3, minutes=30)]
    runner = RuleRunner(store, engine, AlertEngine(engine, clock=lambda: clock[0]), AlertSettings(),
                        clock=lambda: clock[0], cache=DayCache(directory / "store-signals"))
    t1 = time.perf_counter()
    runner.learn_baselines()
    cold = time.perf_counter() - t1
    print(f"  first learning (a new install): {cold:6.1f} s ({runner.last_sources})")
    passes, t2 = 0, time.perf_counter()
    while clock[0] < datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=3, minutes=30):
        clock[0] += timedelta(minutes=25)  # within the 30 minutes each pass re-reads
        runner.pattern_pass()
        passes += 1
    per_pass = (time.perf_counter() - t2) / passes
    t3 = time.perf_counter()
    runner.learn_baselines()
    warm = time.perf_counter() - t3
    print(f"  {passes} minute passes over the day, {per_pass * 1000:.0f} ms each")
    print(f"  next night's learning: {warm:6.1f} s ({runner.last_sources}); {cold / warm:.1f}x quicker than the first")
    t4 = time.perf_counter()
    day = datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    store.reading_counts(day, day + timedelta(days=1))
    print(f"  the store's per-home count of one day: {(time.perf_counter() - t4) * 1000:.0f} ms")
    store.close()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--store-homes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tecwatch-bench-") as tmp:
        county_scale(args.homes, Path(tmp))
    with tempfile.TemporaryDirectory(prefix="tecwatch-bench-") as tmp:
        real_store(args.store_homes, Path(tmp))


if __name__ == "__main__":
    main()
