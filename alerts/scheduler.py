"""The alert engine's clockwork (APScheduler): device health and activity patterns every
minute, baselines relearned nightly.

The activity rules run on a rolling ``Signals`` array for every home, topped up each minute
from the store with the readings of the last few minutes (re-read with a margin, so late
outbox deliveries land in their own buckets). A new alert is raised when a rule starts to
hold, not every minute it goes on holding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta, timezone

import numpy as np
from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.baseline import Baselines, learn
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.episodes import new_episodes
from tecwatch.alerts.health import health_hits
from tecwatch.alerts.partition import Membership
from tecwatch.alerts.patterns import EPISODE_GAP, LOOKBACK, PERSON_RULES, evaluate
from tecwatch.alerts.rules import ACTIVITY_RULES
from tecwatch.alerts.history import FoldCounts, assemble, fold_stored
from tecwatch.alerts.signalcache import DayCache
from tecwatch.alerts.summaries import save_summaries
from tecwatch.alerts.signals import Fitted, Signals, align, empty
from tecwatch.devices import Reading
from tecwatch.store import TimeSeriesStore
from tecwatch.store.base import DeviceLastSeen
from tecwatch.registry.homes import home_zones
from tecwatch.registry.models import OPEN_STATES, Alert, Device, Home, Outcome
from tecwatch.settings import AlertSettings

log = logging.getLogger(__name__)

BUCKET = timedelta(minutes=5)
RESCAN = timedelta(minutes=30)  # re-read this much history every pass: late readings count too
LEARN_DAYS = 28


class RuleRunner:
    def __init__(
        self,
        store: TimeSeriesStore,
        registry: Engine,
        alerts: AlertEngine,
        settings: AlertSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        cache: DayCache | None = None,
        membership: Membership | None = None,
    ):
        self.membership = membership  # None: this worker evaluates every home
        self._cache = cache
        self._store = store
        self._registry = registry
        self._alerts = alerts
        self._settings = settings
        self._clock = clock
        self._signals: Signals | None = None
        self._baselines: Baselines | None = None
        self._states: list[Reading] | None = None  # state sensors' recent readings, for the next top-up
        self._devices: dict[tuple[str, str], Fitted] | None = None  # rooms and roles, read at each learning
        self.last_sources: FoldCounts | None = None  # where the last learning's days came from

    # -- jobs --------------------------------------------------------------------------------

    def health_pass(self) -> list[int]:
        now = self._clock()
        with Session(self._registry) as s:
            installed = [(d.home_id, d.device_id, d.type, d.installed_at)
                         for d in s.scalars(select(Device).where(Device.removed_at.is_(None))) if self._owns(d.home_id)]
        seen = [d for d in self._store.last_seen() if self._owns(d.home_id)]
        hits, _offline = health_hits(seen, installed, now, self._settings)
        return self._alerts.raise_hits(self._new_episodes(hits, now))

    def learn_baselines(self) -> None:
        """Nightly: baselines from the 28 whole (UTC) days before today, for every home. Today is
        left out: learning from an unusual day in progress (a fall) would make it look usual."""
        now = self._clock()
        known = self._known_homes()
        if self._cache is not None:
            # An erased home (its id replaced in the registry, its readings gone) leaves this
            # worker's days too, wherever the worker runs.
            self._cache.forget_all_but(known)
        homes = sorted(h for h in known if self._owns(h))
        if not homes:
            self._signals = self._baselines = None
            return
        today = now.astimezone(timezone.utc).date()
        first = today - timedelta(days=LEARN_DAYS)
        live = self._signals
        fitted = self._devices = self._fitted()
        history, sources = assemble(self._store, homes, first, LEARN_DAYS, today, BUCKET, self._cache, live, fitted)
        self._baselines = learn(history, tz=self._zones(homes), days=LEARN_DAYS,
                                alerted=self._alerted(history))
        # The rolling window for the minute passes: the end of history, then today so far.
        midnight = datetime.combine(today, time(), tzinfo=timezone.utc)
        rolling = empty(homes, align(now - LOOKBACK - BUCKET, BUCKET), align(now, BUCKET) + BUCKET, BUCKET)
        _copy_overlap(history, rolling)
        if live is not None and live.home_ids == homes and live.start <= midnight:
            _copy_overlap(live.window(midnight, live.end), rolling)  # the minute passes keep it current
        else:
            todays, self._states, read = fold_stored(self._store, homes, midnight, rolling.end, BUCKET, fitted=fitted)
            _copy_overlap(todays, rolling)
            sources.readings += len(read)
        self._signals = rolling
        if self._cache is not None:
            self._cache.prune(first)
        save_summaries(self._registry, self._baselines, now)
        learned = int(np.count_nonzero(self._baselines.learned))
        log.info("baselines learned for %d of %d homes (%s)", learned, len(homes), sources)
        self.last_sources = sources

    def pattern_pass(self) -> list[int]:
        now = self._clock()
        seen = self._store.last_seen()
        if self._baselines is None or self._signals is None or set(self._signals.home_ids) != set(self._homes(seen)):
            self.learn_baselines()
        if self._signals is None or self._baselines is None:
            return []  # no homes yet
        self._signals = self._top_up(self._signals, now)
        found = evaluate(self._signals, self._baselines, now)
        # A hub that has gone quiet explains a quiet home, whether or not its alert is raised yet.
        _hits, stale = health_hits(seen, (), now, self._settings)
        offline = self._open_hub_outages() | stale
        hits = [RuleHit(a.home_id, a.rule, a.at, a.reason, a.detail) for a in found
                if not (a.rule in ACTIVITY_RULES and a.home_id in offline)]
        return self._alerts.raise_hits(self._new_episodes(hits, now))

    # -- helpers -----------------------------------------------------------------------------

    def _homes(self, seen: Sequence[DeviceLastSeen] | None = None) -> list[str]:
        return sorted(h for h in self._known_homes(seen) if self._owns(h))

    def _known_homes(self, seen: Sequence[DeviceLastSeen] | None = None) -> set[str]:
        """Every home in the registry or with readings, whichever worker owns it."""
        with Session(self._registry) as s:
            registered = set(s.scalars(select(Home.id)))
        return registered | {d.home_id for d in (self._store.last_seen() if seen is None else seen)}

    def _owns(self, home_id: str) -> bool:
        return self.membership is None or self.membership.owns(home_id)

    def _top_up(self, old: Signals, now: datetime) -> Signals:
        """Slide the window to end now and re-read the recent buckets from the store."""
        fresh = empty(old.home_ids, align(now - LOOKBACK - BUCKET, BUCKET), align(now, BUCKET) + BUCKET, BUCKET)
        _copy_overlap(old, fresh)
        since = align(now - RESCAN, BUCKET)
        recent, self._states, _ = fold_stored(self._store, old.home_ids, since, fresh.end, BUCKET, self._states,
                                              self._devices)
        _copy_overlap(recent, fresh)
        return fresh

    def _zones(self, homes: Sequence[str]) -> list[str]:
        """Each home's own time zone from the registry; the setting for a home without one."""
        with Session(self._registry) as s:
            return home_zones(s, homes, self._settings.timezone)

    def _fitted(self) -> dict[tuple[str, str], Fitted]:
        """Each device's room and role as enrolled: a fridge contact is not the front door."""
        with Session(self._registry) as s:
            rows = s.execute(select(Device.home_id, Device.device_id, Device.room, Device.role)
                             .where(Device.removed_at.is_(None)))
            return {(h, d): Fitted(room, role.value if role is not None else None) for h, d, room, role in rows}

    def _alerted(self, history: Signals) -> np.ndarray:
        return person_alert_marks(self._registry, history)

    def _open_hub_outages(self) -> set[str]:
        with Session(self._registry) as s:
            return set(s.scalars(select(Alert.home_id).where(Alert.rule == "hub_offline",
                                                              Alert.state.in_(OPEN_STATES))))

    def _new_episodes(self, hits: list[RuleHit], now: datetime) -> list[RuleHit]:
        return new_episodes(self._registry, hits, now, EPISODE_GAP)


def _copy_overlap(src: Signals, dst: Signals) -> None:
    """Copy the buckets both arrays cover from ``src`` into ``dst`` (same homes, same bucket)."""
    lo, hi = max(src.start, dst.start), min(src.end, dst.end)
    if hi <= lo:
        return
    n = src.index_of(hi) - src.index_of(lo)
    dst.counts[:, dst.index_of(lo):dst.index_of(lo) + n] = src.counts[:, src.index_of(lo):src.index_of(lo) + n]


def start_scheduler(runner: RuleRunner, settings: AlertSettings,
                    on_pass: Callable[[str], None] | None = None,
                    retention: Callable[[], None] | None = None) -> BackgroundScheduler:
    """The jobs; ``on_pass`` is called with the job's id after each run that succeeded (the
    health check's progress), ``retention`` nightly."""
    scheduler = BackgroundScheduler(timezone=settings.timezone)
    if runner.membership is not None:
        runner.membership.renew()  # before the first pass, so it knows its homes
        scheduler.add_job(runner.membership.renew, "interval", seconds=settings.worker_lease_s / 3,
                          id="worker_lease", max_instances=1, coalesce=True)
    if retention is not None:
        scheduler.add_job(retention, "cron", hour=4, minute=15, id="retention", max_instances=1, coalesce=True)
    if on_pass is not None:
        scheduler.add_listener(lambda event: on_pass(event.job_id), EVENT_JOB_EXECUTED)
    scheduler.add_job(runner.health_pass, "interval", seconds=settings.health_interval_s, id="device_health",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    scheduler.add_job(runner.pattern_pass, "interval", seconds=settings.pattern_interval_s, id="activity_patterns",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    scheduler.add_job(runner.learn_baselines, "cron", hour=3, minute=30, id="learn_baselines",
                      max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler


def person_alert_marks(registry: Engine, history: Signals) -> np.ndarray:
    """(homes, buckets) of ``history``: where an alert about the person was raised on a learned
    routine. Those days are not learned from (an unusual day must not become usual), unless the
    alert was resolved as a false alarm: the monitoring centre found a usual day, and leaving it
    out would keep the rule from ever learning, say, a usual afternoon nap."""
    out = np.zeros((len(history.home_ids), history.n_buckets), bool)
    row = {h: i for i, h in enumerate(history.home_ids)}
    with Session(registry) as s:
        found = s.execute(select(Alert.home_id, Alert.occurred_at, Alert.detail).where(
            Alert.rule.in_(PERSON_RULES), Alert.occurred_at >= history.start, Alert.occurred_at < history.end,
            or_(Alert.outcome.is_(None), Alert.outcome != Outcome.FALSE_ALARM)))
        for home_id, at, detail in found:
            at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
            b = history.index_of(at)
            if home_id in row and 0 <= b < history.n_buckets and (detail or {}).get("baseline_learned"):
                out[row[home_id], b] = True
    return out
