"""One way to build and run each service from ``Settings``: ingest, alerts and the API.

The CLI, the demo and the tests all build services here, so the demo runs what production
runs: supervised threads, worker membership, health status, retention. This is the one place
that wires the packages together (ingest hands alarms to the alert engine; both use the store).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine

from tecwatch.alerts.notify import Sender
from tecwatch.alerts.partition import Membership
from tecwatch.alerts.runtime import AlertRuntime
from tecwatch.alerts.scheduler import RuleRunner, start_scheduler
from tecwatch.alerts.signalcache import DayCache
from tecwatch.db import make_engine
from tecwatch.health import Health, heartbeat_path, write_status
from tecwatch.ingest.alarms import AlarmSink
from tecwatch.ingest.deadletter import DeadLetterStore
from tecwatch.ingest.mqtt import MqttIngest
from tecwatch.ingest.service import IngestService
from tecwatch.ingest.stats import IngestStats
from tecwatch.settings import Settings
from tecwatch.store import TimeSeriesStore, apply_retention, open_store
from tecwatch.supervise import Supervisor

log = logging.getLogger(__name__)

STATUS_EVERY_S = 5.0  # how often a running service writes its health status


class Ingest:
    """An ingest worker: MQTT -> validation -> store and dead letters, alarms to the alert engine."""

    def __init__(self, settings: Settings, *, alarm_sink: AlarmSink | None = None,
                 store: TimeSeriesStore | None = None, supervisor: Supervisor | None = None):
        self.settings = settings
        supervisor = supervisor or Supervisor()
        self.store = store or open_store(settings.store)
        self._owns_store = store is None
        self.engine = make_engine(settings.registry.url)
        self.dead_letters = DeadLetterStore(self.engine)
        # Without a sink given, alarms go to the alert engine in the registry database.
        self.alerts = None if alarm_sink else AlertRuntime(self.engine, settings.alerts, supervisor=supervisor)
        self.alarm_sink = alarm_sink or self.alerts.engine
        self.service = IngestService(self.store, self.dead_letters, self.alarm_sink, settings.ingest,
                                     supervisor=supervisor,
                                     confirm=self._confirm if settings.ingest.confirm_to_gateways else None)
        self.mqtt = MqttIngest(settings.broker, settings.ingest, self.service, supervisor)

    def _confirm(self, home_id: str, seqs: list[int]) -> None:
        self.mqtt.confirm(home_id, seqs)

    def start(self) -> None:
        if self.alerts:
            self.alerts.start()
        self.service.start()
        self.mqtt.start()
        b = self.settings.broker
        log.info("ingest worker started: broker %s:%d (MQTT %s), store %s", b.host, b.port, b.protocol,
                 self.settings.store.backend)

    def stop(self) -> None:
        self.mqtt.stop(drain_timeout=10.0)
        self.service.stop()
        if self.alerts:
            self.alerts.stop()
        if self._owns_store:
            self.store.close()
        self.engine.dispose()
        log.info("ingest worker stopped: %s", self.service.stats().summary())

    def stats(self) -> IngestStats:
        return self.service.stats()

    def health(self) -> Health:
        """Connected, and making progress: nothing waits long without being stored and acknowledged."""
        health = self.service.health()
        problem = health.problem or (None if self.mqtt.connected else "not connected to the broker")
        if problem is None and self.alerts is not None:
            problem = self.alerts.problem()
        return Health(problem, health.summary)


class Alerts:
    """The alert engine's scheduled side: device health and activity rules, nightly learning and
    retention, escalation and notifications, as one of possibly several alert workers."""

    def __init__(self, settings: Settings, *, store: TimeSeriesStore | None = None, registry: Engine | None = None,
                 sender: Sender | None = None, supervisor: Supervisor | None = None):
        self.settings = settings
        self.registry = registry or make_engine(settings.registry.url)
        self._owns_registry = registry is None
        self.store = store or open_store(settings.store)
        self._owns_store = store is None
        self.runtime = AlertRuntime(self.registry, settings.alerts, sender, supervisor)
        self.dead_letters = DeadLetterStore(self.registry)
        name = settings.alerts.worker_name or f"{socket.gethostname()}-{os.getpid()}"
        self.membership = Membership(self.registry, name, timedelta(seconds=settings.alerts.worker_lease_s))
        self.runner = RuleRunner(self.store, self.registry, self.runtime.engine, settings.alerts,
                                 cache=DayCache(settings.data_dir / "signals"), membership=self.membership)
        self._scheduler = None
        self._started = time.monotonic()
        self._passes: dict[str, float] = {}  # job id -> when it last succeeded (monotonic)

    def start(self) -> None:
        self.runtime.start()
        self._scheduler = start_scheduler(self.runner, self.settings.alerts, on_pass=self._passed,
                                          retention=self.retention)

    def _passed(self, job_id: str) -> None:
        self._passes[job_id] = time.monotonic()

    def retention(self, now: datetime | None = None) -> None:
        """Nightly: old readings, dead letters past their days, alarm receipts past the accepted age."""
        now = now or datetime.now(timezone.utc)
        apply_retention(self.store, self.settings.store.retention_days, now)
        ingest = self.settings.ingest
        gone = self.dead_letters.delete_before(now - timedelta(days=ingest.dead_letter_days))
        receipts = self.runtime.engine.forget_receipts(now - timedelta(days=ingest.max_age_days))
        log.info("retention: %d dead letters and %d alarm receipts deleted", gone, receipts)

    def health(self) -> Health:
        """Each rule pass and escalation keep completing."""
        a = self.settings.alerts
        now = time.monotonic()
        problem = self.runtime.problem()
        for job, every in (("device_health", a.health_interval_s), ("activity_patterns", a.pattern_interval_s)):
            last = self._passes.get(job, self._started)
            if problem is None and now - last > 3 * every + 60:
                problem = f"{job.replace('_', ' ')} has not completed a pass for {now - last:.0f} s"
        done = ", ".join(f"{job} {now - t:.0f} s ago" for job, t in sorted(self._passes.items())) or "none yet"
        return Health(problem, f"worker {self.membership.name} of {len(self.membership.workers)}; last passes: {done}")

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        self.membership.leave()
        self.runtime.stop()
        if self._owns_store:
            self.store.close()
        if self._owns_registry:
            self.registry.dispose()


def build_api(settings: Settings):
    """The API and web pages as an ASGI app."""
    from tecwatch.api.app import create_app

    return create_app(settings)


def report_health(name: str, service: Ingest | Alerts, settings: Settings) -> Health:
    """Write the service's health status (for ``tecwatch healthcheck``), saying so if it is bad."""
    health = service.health()
    write_status(heartbeat_path(settings.data_dir, name), health)
    if not health.ok:
        log.warning("%s unhealthy: %s", name, health.problem)
    return health


def serve(name: str, service: Ingest | Alerts, settings: Settings, stop: threading.Event) -> None:
    """Start ``service``, write its health status every few seconds until ``stop``, then stop it."""
    service.start()
    try:
        while not stop.wait(STATUS_EVERY_S):
            report_health(name, service, settings)
    finally:
        service.stop()
