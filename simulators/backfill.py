"""Write days of simulated history for many homes straight into the time-series store.

For baselines and benchmarks: the broker and ingest are skipped, so a month of a thousand
homes takes minutes. The history ends at local midnight today (nothing in the future).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tqdm import tqdm

from tecwatch.devices import Reading
from tecwatch.store import TimeSeriesStore
from tecwatch.simulators.encode import PlatformEncoder
from tecwatch.simulators.home import SimHome
from tecwatch.simulators.routine import simulate_day
from tecwatch.simulators.scenarios import GroundTruth, Scenario, check_scenarios


@dataclass
class BackfillResult:
    readings: int = 0
    seconds: float = 0.0
    truths: list[GroundTruth] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


def backfill(
    store: TimeSeriesStore,
    homes: Sequence[SimHome],
    *,
    days: int,
    seed: int,
    scenarios: Sequence[Scenario] = (),
    heartbeat_s: int = 300,
    first_day: date | None = None,
    batch_size: int = 20_000,
    progress: bool = True,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> BackfillResult:
    """Simulate ``days`` days for every home and write them; returns counts and ground truth.

    ``first_day`` defaults to ``days`` days before the homes' local today, so the history ends at
    today's start.
    """
    if days < 1:
        raise ValueError("days must be 1 or more")
    if first_day is None:
        # The homes' own date: just after their midnight the UTC date can still be yesterday's,
        # which would end the history a whole day early.
        today = now().astimezone(ZoneInfo(homes[0].tz)).date() if homes else now().date()
        first_day = today - timedelta(days=days)
    check_scenarios(scenarios, homes, days)
    encoder = PlatformEncoder()
    result = BackfillResult()
    batch: list[Reading] = []
    limit = now()
    started = time.monotonic()
    bar = tqdm(total=days * len(homes), unit="home-day", desc="backfill", disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    try:
        for day_number in range(1, days + 1):
            day = first_day + timedelta(days=day_number - 1)
            for home in homes:
                events, truths = simulate_day(home, day_number, day, seed, scenarios, heartbeat_s)
                result.truths.extend(truths)
                for event in events:
                    if event.ts <= limit:
                        batch.append(encoder.reading(home, event))
                if len(batch) >= batch_size:
                    store.write(batch)
                    result.readings += len(batch)
                    batch = []
                    bar.set_postfix_str(f"{result.readings:,} readings, "
                                        f"{result.readings / (time.monotonic() - started):,.0f}/s", refresh=False)
                bar.update(1)
        if batch:
            store.write(batch)
            result.readings += len(batch)
    finally:
        bar.close()
    result.seconds = time.monotonic() - started
    return result
