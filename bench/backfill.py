"""Backfill throughput: simulated history written straight into each store.

Three runs over the same homes and days (same seed, so the same readings):

- generate: simulate and build the readings, store nothing (the simulator's own ceiling);
- sqlite:   the embedded store;
- influxdb: a private influxd on a loopback port (InfluxDB 1.x line protocol).

It also prints the bytes on disk per reading each store took (influxd's after its clean stop,
which writes its WAL out to TSM files): the figure storage per year is projected from.

Usage: python bench/backfill.py [--homes 100] [--days 30]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tecwatch.devices import Reading
from tecwatch.store import InfluxStore, SQLiteStore
from tecwatch.localservices import Influxd
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home


class NullStore:
    """Takes readings and forgets them: measures generation alone."""

    def write(self, readings: Sequence[Reading]) -> None:
        pass

    def close(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--homes", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    homes = [make_home(args.seed, i) for i in range(1, args.homes + 1)]
    figures: dict[str, tuple[int, float]] = {}
    on_disk: dict[str, int] = {}

    def run(name: str, store) -> None:
        result = backfill(store, homes, days=args.days, seed=args.seed, progress=True)
        store.close()
        figures[name] = (result.readings, result.seconds)
        print(f"{name:9} {result.readings:>11,} readings in {result.seconds:7.1f}s = {result.rate:>9,.0f} readings/s",
              flush=True)

    with tempfile.TemporaryDirectory(prefix="tecwatch-bench-") as tmp:
        run("generate", NullStore())
        run("sqlite", SQLiteStore(Path(tmp) / "readings.db"))
        on_disk["sqlite"] = _size(Path(tmp), "readings.db*")
        with Influxd(Path(tmp) / "influxd") as influxd:
            run("influxdb", InfluxStore(influxd.url, "bench", timeout_s=60))
        on_disk["influxdb"] = _size(Path(tmp) / "influxd", "data/**/*") + _size(Path(tmp) / "influxd", "wal/**/*")

    readings, base = figures["generate"]
    print(f"\n{args.homes} homes x {args.days} days = {readings:,} readings "
          f"({readings / (args.homes * args.days):,.0f} per home-day)")
    for name, (_n, seconds) in figures.items():
        print(f"{name:9} {readings / seconds:>9,.0f} readings/s   ratio to generate-only {base / seconds:.2f}")
    for name, size in on_disk.items():
        print(f"{name:9} {size / 1e6:9,.1f} MB on disk = {size / readings:6.1f} bytes a reading")


def _size(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern) if p.is_file())


if __name__ == "__main__":
    main()
