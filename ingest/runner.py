"""Builds a running ingest worker from ``Settings``: store, dead letters, alarm hand-off, MQTT."""

from __future__ import annotations

import logging

from tecwatch.db import make_engine
from tecwatch.settings import Settings

from tecwatch.alerts.runtime import AlertRuntime

from .alarms import AlarmSink
from .deadletter import DeadLetterStore
from .mqtt import MqttIngest
from .service import IngestService
from .stats import IngestStats
from tecwatch.store import TimeSeriesStore, open_store

log = logging.getLogger(__name__)


class IngestWorker:
    def __init__(self, settings: Settings, alarm_sink: AlarmSink | None = None, store: TimeSeriesStore | None = None):
        self.settings = settings
        self.store = store or open_store(settings.store)
        self._owns_store = store is None
        self.engine = make_engine(settings.registry.url)
        self.dead_letters = DeadLetterStore(self.engine)
        # Without a sink given, alarms go to the alert engine in the registry database.
        self.alerts = None if alarm_sink else AlertRuntime(self.engine, settings.alerts)
        self.alarm_sink = alarm_sink or self.alerts.engine
        self.service = IngestService(self.store, self.dead_letters, self.alarm_sink, settings.ingest)
        self.mqtt = MqttIngest(settings.broker, settings.ingest, self.service)

    def start(self) -> None:
        if self.alerts:
            self.alerts.start()
        self.service.start()
        self.mqtt.start()
        log.info(
            "ingest worker started: broker %s:%d (MQTT %s), store %s",
            self.settings.broker.host, self.settings.broker.port, self.settings.broker.protocol,
            self.settings.store.backend,
        )

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

    def healthy(self) -> bool:
        """Connected to the broker and the store accepting writes."""
        return self.mqtt.connected and self.stats().store_healthy
