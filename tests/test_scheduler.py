"""The scheduled rule passes over a real store and registry: a fall in today's data raises
no_activity once, a hub outage holds activity alerts back, silent devices are found."""

from __future__ import annotations

import sqlite3
import time as clock
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.scheduler import RuleRunner
from tecwatch.alerts.signals import BED_IN, BED_OUT, N_SIGNALS, OFFLINE
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.registry.models import Alert, Device, Home, HomeBaseline
from tecwatch.settings import AlertSettings
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.encode import PlatformEncoder
from tecwatch.simulators.home import make_home
from tecwatch.simulators.routine import simulate_day
from tecwatch.simulators.scenarios import parse_scenario

SEED = 5
DAYS = 30
TZ = ZoneInfo("Europe/London")


def test_pattern_and_health_passes(tmp_path, registry):
    homes = [make_home(SEED, i) for i in (1, 2, 3)]
    today = date(2026, 11, 3)  # its 28 days of learning span the clocks going back (25 October)
    first = today - timedelta(days=DAYS)
    now = datetime.combine(today, time(15, 0), tzinfo=TZ).astimezone(timezone.utc)
    # home-1 falls at 11:00 today; home-2 falls too, but its hub is down, which explains the quiet.
    scenarios = [parse_scenario(f"fall:home-1@d{DAYS + 1}T11:00"), parse_scenario(f"fall:home-2@d{DAYS + 1}T11:00")]
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        backfill(store, homes, days=DAYS, seed=SEED, first_day=first, progress=False, now=lambda: now)
        encoder = PlatformEncoder()
        for home in homes:
            events, _ = simulate_day(home, DAYS + 1, today, SEED, scenarios, 300)
            store.write([encoder.reading(home, e) for e in events if e.ts <= now])
            if home.home_id == "home-1":
                # At home when it falls: back from an outing, the door would be the last sign of life,
                # and after the door the rule allows for the longest outing instead.
                fall = datetime.combine(today, time(11, 0), tzinfo=TZ)
                door = [e.ts for e in events if e.device_id == "door-front" and e.values.get("contact") is False
                        and e.ts < fall]
                moved = [e.ts for e in events if e.values.get("occupancy") is True and e.ts < fall]
                assert moved and (not door or max(moved) > max(door)), "home-1 is at home at 11:00"
        with Session(registry) as s, s.begin():
            s.add(Home(id="home-3", created_at=now - timedelta(days=60)))
            s.flush()
            s.add(Device(home_id="home-3", device_id="door-back", type="door", installed_at=now - timedelta(days=5)))
        engine = AlertEngine(registry, clock=lambda: now)
        engine.raise_hits([RuleHit("home-2", "hub_offline", now - timedelta(hours=5), "hub down", {}, "gateway")])
        runner = RuleRunner(store, registry, engine, AlertSettings(), clock=lambda: now)

        runner.pattern_pass()
        runner.health_pass()
        with Session(registry) as s:
            got = {(a.home_id, a.rule): a for a in s.scalars(select(Alert))}
        assert ("home-1", "no_activity") in got, sorted(got)
        assert "no activity" in got[("home-1", "no_activity")].reason.lower()
        assert ("home-2", "no_activity") not in got, "the hub outage explains home-2's quiet"
        assert ("home-3", "no_activity") not in got
        silent = got[("home-3", "device_silent")]
        assert silent.device_id == "door-back" and "door-back" in silent.reason

        before = len(got)
        runner.pattern_pass()  # still quiet a minute later: the same episode, no new alert
        runner.health_pass()
        with Session(registry) as s:
            alerts = s.scalars(select(Alert)).all()
            assert len(alerts) == before
            assert all(a.repeats == 0 for a in alerts)
    finally:
        store.close()


def test_the_alerts_command_starts_and_stops_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
        "TECWATCH_STORE__SQLITE_PATH": str(tmp_path / "readings.db"),
        "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tecwatch", "alerts"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "alert engine running" in proc.stdout.readline()
        clock.sleep(1.0)  # the first health and pattern passes run at start
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read()
        err = proc.stderr.read()
        assert "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_home_whose_hub_went_quiet_gets_no_activity_alerts(tmp_path, registry):
    """Nothing at all from a home since midnight, not even heartbeats: that is a hub problem,
    not a resident who stopped moving."""
    homes = [make_home(SEED, i) for i in (1, 2)]
    first = date(2027, 2, 27)  # to the day after the clocks went forward (28 March)
    now = datetime.combine(first + timedelta(days=DAYS), time(10, 0), tzinfo=timezone.utc)
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        backfill(store, homes, days=DAYS, seed=SEED, first_day=first, progress=False, now=lambda: now)
        runner = RuleRunner(store, registry, AlertEngine(registry, clock=lambda: now), AlertSettings(),
                            clock=lambda: now)
        assert runner.pattern_pass() == []
        runner.health_pass()
        with Session(registry) as s:
            assert {(a.home_id, a.rule) for a in s.scalars(select(Alert))} == {
                ("home-1", "hub_offline"), ("home-2", "hub_offline")}
    finally:
        store.close()


class CountingStore:
    """The real store, counting how many day-sized reads the runner makes."""

    def __init__(self, store):
        self._store = store
        self.all_home_reads = 0

    def readings(self, home_id, start, end, **kw):
        if home_id is None and end - start >= timedelta(hours=1):
            self.all_home_reads += 1
        return self._store.readings(home_id, start, end, **kw)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_nightly_learning_folds_each_finished_day_once(tmp_path, registry):
    from tecwatch.alerts.signalcache import DayCache

    homes = [make_home(SEED, i) for i in (1, 2, 3)]
    # The nightly run after the clocks went forward: 28 March is a 23-hour day where the homes are.
    now = datetime(2027, 3, 29, 3, 30, tzinfo=timezone.utc)
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        backfill(store, homes, days=DAYS, seed=SEED, first_day=now.date() - timedelta(days=DAYS), progress=False,
                 now=lambda: now)
        counting = CountingStore(store)
        engine = AlertEngine(registry, clock=lambda: now)
        cached = RuleRunner(counting, registry, engine, AlertSettings(), clock=lambda: now,
                            cache=DayCache(tmp_path / "signals"))
        cached.learn_baselines()
        assert counting.all_home_reads == 28 + 1  # every day, then today so far
        assert len(list((tmp_path / "signals").glob("signals-*.npz"))) == 28
        counting.all_home_reads = 0
        cached.learn_baselines()
        assert counting.all_home_reads == 0, "every day from the cache, today from the live window"
        assert (cached.last_sources.cached, cached.last_sources.readings) == (28, 0)
        plain = RuleRunner(store, registry, engine, AlertSettings(), clock=lambda: now)
        plain.learn_baselines()
        assert [cached._baselines.explain(i) for i in range(3)] == [plain._baselines.explain(i) for i in range(3)]
        with Session(registry) as s:  # saved for people to read
            saved = {b.home_id: b for b in s.scalars(select(HomeBaseline))}
        assert sorted(saved) == ["home-1", "home-2", "home-3"]
        assert saved["home-2"].summary == plain._baselines.explain(1) and saved["home-2"].learned
        up_by = round(saved["home-2"].up_by_min) % 1440
        assert saved["home-2"].summary["up_by"] == f"{up_by // 60:02d}:{up_by % 60:02d}"

        # An outbox delivers yesterday evening's readings of home-2 late: only that home-day is read again.
        late = [r for r in store.readings("home-2", now - timedelta(hours=9), now - timedelta(hours=3), limit=10_000)]
        with sqlite3.connect(tmp_path / "readings.db") as conn:
            conn.execute("DELETE FROM readings WHERE home_id = 'home-2' AND ts_ms >= ?",
                         (int((now - timedelta(hours=9)).timestamp() * 1000),))
        cached.learn_baselines()  # learns without them
        store.write(late)
        cached.learn_baselines()
        assert (cached.last_sources.homes_refolded, cached.last_sources.folded) == (1, 0)
        assert len(late) <= cached.last_sources.readings < 2 * len(late) + 2_000
        plain.learn_baselines()
        assert [cached._baselines.explain(i) for i in range(3)] == [plain._baselines.explain(i) for i in range(3)]
    finally:
        store.close()


def test_days_kept_from_the_minute_passes_equal_a_fold_of_the_stored_day(tmp_path, registry):
    """The minute passes fold the day 30 minutes at a time; bed and hub states carry across."""
    from tecwatch.alerts.history import fold_stored
    from tecwatch.alerts.signalcache import DayCache

    homes = [make_home(SEED, i) for i in (1, 2)]
    # The days kept are 24 October and 25 October, when the clocks go back where the homes are.
    today = date(2026, 10, 26)
    # From 23:10 on 24 October (BST, 22:10 UTC) to past midnight UTC.
    scenarios = [parse_scenario(f"hub_offline:home-1@d{DAYS - 1}T23:10+150m")]
    start = datetime.combine(today - timedelta(days=2), time(0, 7), tzinfo=timezone.utc)
    end = datetime.combine(today, time(3, 30), tzinfo=timezone.utc)
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        backfill(store, homes, days=DAYS, seed=SEED, first_day=today - timedelta(days=DAYS), scenarios=scenarios,
                 progress=False, now=lambda: end)
        clock = [start]
        engine = AlertEngine(registry, clock=lambda: clock[0])
        cache = DayCache(tmp_path / "signals")
        runner = RuleRunner(store, registry, engine, AlertSettings(), clock=lambda: clock[0], cache=cache)
        while clock[0] < end:
            runner.pattern_pass()
            clock[0] += timedelta(minutes=25)
        runner.learn_baselines()
        assert (runner.last_sources.live, runner.last_sources.homes_refolded, runner.last_sources.folded) == (2, 0, 0)
        ids = [h.home_id for h in homes]
        blank = np.zeros((N_SIGNALS, 288), np.uint16)
        for day in (today - timedelta(days=2), today - timedelta(days=1)):
            kept, missing = cache.load(day, ids, blank)
            day_start = datetime.combine(day, time(), tzinfo=timezone.utc)
            whole, _, _ = fold_stored(store, ids, day_start, day_start + timedelta(days=1), timedelta(minutes=5))
            assert missing == []
            assert kept[BED_OUT].sum() > 0 and kept[BED_IN].sum() > 0
            np.testing.assert_array_equal(kept, whole.counts.transpose(2, 0, 1))
        assert kept[OFFLINE, 0].any(), "the outage that began the evening before is marked"
    finally:
        store.close()


def test_a_resolved_episode_is_not_raised_again_by_a_restarted_or_other_worker(tmp_path, registry):
    """The device stays silent after someone resolves its alert: neither this worker a minute
    later, nor a fresh one (a restart, or the worker the home moved to), raises it again."""
    from tecwatch.alerts import service
    from tecwatch.registry.models import Outcome

    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    with Session(registry) as s, s.begin():
        s.add(Home(id="home-1", created_at=now - timedelta(days=60)))
        s.flush()
        s.add(Device(home_id="home-1", device_id="door-back", type="door", installed_at=now - timedelta(days=5)))
    store = SQLiteStore(tmp_path / "readings.db")
    clock_now = [now]
    engine = AlertEngine(registry, clock=lambda: clock_now[0])
    try:
        first = RuleRunner(store, registry, engine, AlertSettings(), clock=lambda: clock_now[0])
        [alert_id] = first.health_pass()
        service.resolve(registry, alert_id, "operator (operator)", Outcome.CARE_PLAN_REVIEWED, "sensor to be replaced")
        for minutes in (1, 2):
            clock_now[0] = now + timedelta(minutes=minutes)
            assert first.health_pass() == []
            assert RuleRunner(store, registry, engine, AlertSettings(), clock=lambda: clock_now[0]).health_pass() == []
        # Quiet for longer than an episode's gap, then silent again: a new episode, a new alert.
        clock_now[0] = now + timedelta(hours=3)
        assert len(RuleRunner(store, registry, engine, AlertSettings(), clock=lambda: clock_now[0]).health_pass()) == 1
    finally:
        store.close()
