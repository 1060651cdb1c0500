"""Backtest over stored history: backfilled homes with injected scenarios, read back from a
real store, raise the alerts their ground truth says, through the live rule code."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone


from tecwatch.alerts.backtest import backtest_store
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home
from tecwatch.simulators.scenarios import parse_scenario

SEED = 11
DAYS = 40
EXPECTED = {"fall": "no_activity", "not_getting_up": "not_up", "night_wandering": "door_at_night",
            "cold_home": "cold_home"}
SCENARIOS = ["fall:home-1@d35T10:30", "not_getting_up:home-2@d36", "night_wandering:home-3@d34T02:40",
             "cold_home:home-4@d37T14:00+6h"]
FIRST = date(2026, 9, 20)  # day 36, when home-2 does not get up, is 25 October: the clocks go back


def history(store):
    homes = [make_home(SEED, i) for i in range(1, 6)]
    start = datetime.combine(FIRST + timedelta(days=32), time(), tzinfo=timezone.utc)
    end = datetime.combine(FIRST + timedelta(days=DAYS), time(), tzinfo=timezone.utc)
    result = backfill(store, homes, days=DAYS, seed=SEED, scenarios=[parse_scenario(s) for s in SCENARIOS],
                      first_day=FIRST, progress=False, now=lambda: end)
    return homes, result.truths, start, end


def test_backtest_finds_each_injected_scenario_in_stored_history(store):
    homes, truths, start, end = history(store)
    alerts = backtest_store(store, [h.home_id for h in homes], start, end)
    for t in truths:
        rule = EXPECTED[t.kind]
        hits = [a for a in alerts if a.home_id == t.home_id and a.rule == rule
                and t.start - timedelta(hours=1) <= a.at <= t.end + timedelta(hours=6)]
        assert hits, f"{t.kind} in {t.home_id} at {t.start}: no {rule} among {alerts}"
        assert hits[0].reason  # explained, with its thresholds
    scenario_homes = {t.home_id for t in truths}
    activity = [a for a in alerts if a.home_id not in scenario_homes and a.rule in ("no_activity", "not_up")]
    assert len(activity) <= 1, f"normal home-5 raised {activity}"
    only = backtest_store(store, [h.home_id for h in homes], start, end, rules=["door_at_night"])
    assert {a.rule for a in only} == {"door_at_night"}


def test_backtest_cli(tmp_path):
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        _homes, _truths, start, end = history(store)
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
        "TECWATCH_STORE__SQLITE_PATH": str(tmp_path / "readings.db")}
    run = subprocess.run([sys.executable, "-m", "tecwatch", "backtest", "--homes", "home-3,home-5",
                          "--from", start.isoformat(), "--to", end.isoformat(), "--rule", "door_at_night"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "home-3" in run.stdout and "door_at_night" in run.stdout and "alerts for 2 homes" in run.stdout
    assert "reading history" in run.stderr  # the progress bar
    bad = subprocess.run([sys.executable, "-m", "tecwatch", "backtest", "--homes", "home-3", "--from",
                          end.isoformat(), "--to", start.isoformat()], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "range is empty" in bad.stderr
