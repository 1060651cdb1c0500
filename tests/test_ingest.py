"""Ingest over a real mosquitto into real stores: data path, dead letters, alarms, restarts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tecwatch.devices import Reading
from tecwatch.ingest.alarms import LoggingAlarmSink
from tecwatch.services import Ingest
from tecwatch.localservices import Mosquitto
from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings

from support import Publisher, count_stored, expected_keys, reading_stream, stored_keys, wait_until


@pytest.fixture
def sqlite_store(tmp_path):
    from tecwatch.store.sqlite import SQLiteStore

    s = SQLiteStore(tmp_path / "embedded-readings.db")
    yield s
    s.close()


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path / "mosquitto") as m:
        yield m


def make_settings(broker: Mosquitto, tmp_path, protocol: str = "5", **ingest) -> Settings:
    return Settings(
        broker=BrokerSettings(mode="external", host=broker.host, port=broker.port, protocol=protocol),
        registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"),
        ingest=IngestSettings(
            client_id=f"ingest-{uuid.uuid4().hex[:8]}", batch_max_wait_s=0.05, stats_interval_s=1, **ingest
        ),
    )


def started(worker: Ingest) -> Ingest:
    worker.start()
    assert worker.mqtt.subscribed.wait(10), "ingest did not subscribe"
    return worker


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_published_readings_land_in_the_store_as_sent(broker, store, tmp_path, protocol):
    worker = started(Ingest(make_settings(broker, tmp_path, protocol), store=store))
    pub = Publisher(broker.host, broker.port, protocol)
    sent = reading_stream(600, homes=6, devices=4)
    try:
        pub.publish(sent)
        pub.wait_all_published()
        wait_until(lambda: worker.stats().acked >= len(sent), 30, "all readings acknowledged")
        assert stored_keys(store, sent) == expected_keys(sent)
        # Spot-check one reading in full: tags, typed fields, event time from the payload.
        first = json.loads(sent[1].payload)
        got = store.readings("home-1", sent[1].ts, sent[1].ts + timedelta(milliseconds=1), device_id="dev-0")
        assert len(got) == 1
        r = got[0]
        assert (r.device_type, r.room, r.seq) == ("motion", "room 0", first["seq"])
        assert r.values == {"occupancy": first["occupancy"]}
        assert r.ts == sent[1].ts
        stats = worker.stats()
        assert stats.received == stats.written == stats.acked == len(sent)
        assert stats.rejected == {} and stats.pending == 0
    finally:
        pub.close()
        worker.stop()


def test_invalid_messages_are_dead_lettered_counted_and_acked(broker, store, tmp_path):
    settings = make_settings(broker, tmp_path, max_payload_bytes=1024)
    worker = started(Ingest(settings, store=store))
    ts = datetime.now(timezone.utc).isoformat()
    bad = {
        "not_json": ("tec/v1/h1/d1/reading", b"hello"),
        "oversize": ("tec/v1/h1/d1/reading", b"{" + b" " * 2000 + b"}"),
        "bad_topic": ("tec/v1/h1/reading", b"{}"),
        "unknown_device_type": ("tec/v1/h1/d1/reading", json.dumps({"type": "kettle", "ts": ts, "seq": 1}).encode()),
        "missing_ts": ("tec/v1/h1/d1/reading", b'{"type":"motion","seq":1,"occupancy":true}'),
        "ts_in_future": ("tec/v1/h1/d1/reading",
                         b'{"type":"motion","ts":"2030-01-01T00:00:00Z","seq":1,"occupancy":true}'),
        "non_finite_number": ("tec/v1/h1/d1/reading",
                              f'{{"type":"temperature","ts":"{ts}","seq":1,"temperature":NaN}}'.encode()),
        "invalid_value": ("tec/v1/h1/d1/reading", json.dumps({"type": "motion", "ts": ts, "seq": 1,
                                                               "occupancy": "yes"}).encode()),
        "home_mismatch": ("tec/v1/h1/d1/reading", json.dumps({"type": "motion", "ts": ts, "seq": 1,
                                                               "occupancy": True, "home_id": "h2"}).encode()),
    }
    good = reading_stream(50, homes=2, devices=2)
    pub = Publisher(broker.host, broker.port)
    try:
        for topic, payload in bad.values():
            pub.publish([(topic, payload)])
            pub.publish(good[:5])
            good = good[5:] + good[:5]
        pub.wait_all_published()
        wait_until(lambda: worker.stats().acked >= len(bad) + 45, 30, "everything acknowledged")
        stats = worker.stats()
        assert stats.rejected == {reason: 1 for reason in bad}
        letters = {d.reason: d for d in worker.dead_letters.list(limit=100)}
        assert set(letters) == set(bad)
        for reason, (topic, payload) in bad.items():
            assert letters[reason].topic == topic
            assert letters[reason].payload == payload  # raw bytes kept for inspection
            assert letters[reason].detail
        assert count_stored(store, good[:45]) == 45  # valid data kept flowing
    finally:
        pub.close()
        worker.stop()
    # Rejected messages were acknowledged: a new worker on the same session gets nothing again.
    again = started(Ingest(settings, store=store))
    try:
        time.sleep(1.0)
        assert again.stats().received == 0
    finally:
        again.stop()


class SlowStore:
    """The real store behind a gate, to show alarms do not wait for the store."""

    def __init__(self, inner):
        self.inner = inner
        self.gate = threading.Event()

    def write(self, readings):
        self.gate.wait(30)
        self.inner.write(readings)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_alarms_are_handed_over_at_once_while_the_store_is_slow(broker, tmp_path, store):
    slow = SlowStore(store)
    sink = LoggingAlarmSink()
    worker = started(Ingest(make_settings(broker, tmp_path), alarm_sink=sink, store=slow))
    pub = Publisher(broker.host, broker.port)
    ts = datetime.now(timezone.utc).isoformat()
    try:
        pub.publish(reading_stream(20))
        sent_at = time.monotonic()
        pub.publish([("tec/v1/home-9/pendant-1/event",
                      json.dumps({"type": "pendant", "ts": ts, "seq": 1, "action": "press"}).encode())])
        wait_until(lambda: sink.recent(), 5, "alarm handed to the alert engine", interval=0.01)
        handed_over_s = time.monotonic() - sent_at
        assert handed_over_s < 1.0
        alarm = sink.recent()[0]
        assert (alarm.home_id, alarm.device_type, alarm.values["action"]) == ("home-9", "pendant", "press")
        # Nothing is acknowledged (or counted as written) until the store has it.
        assert worker.stats().acked == 0
        slow.gate.set()
        wait_until(lambda: worker.stats().acked == 21, 10, "acks after the store caught up")
        ts_dt = alarm.ts
        assert store.readings("home-9", ts_dt, ts_dt + timedelta(milliseconds=1))[0].alarm is True
    finally:
        slow.gate.set()
        pub.close()
        worker.stop()


class FailingAlarmSink(LoggingAlarmSink):
    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def accept(self, alarm: Reading) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("alert engine down")
        super().accept(alarm)


def test_an_alarm_the_alert_engine_refused_is_retried_and_only_then_acked(broker, tmp_path, store):
    sink = FailingAlarmSink(failures=2)
    settings = make_settings(broker, tmp_path, store_retry_min_s=0.2)
    worker = started(Ingest(settings, alarm_sink=sink, store=store))
    pub = Publisher(broker.host, broker.port)
    ts = datetime.now(timezone.utc).isoformat()
    try:
        pub.publish([("tec/v1/h1/fd-1/event", json.dumps({"type": "fall_detector", "ts": ts, "seq": 1,
                                                         "action": "fall"}).encode())])
        wait_until(lambda: sink.recent(), 10, "alarm accepted after retries")
        wait_until(lambda: worker.stats().acked == 1, 5, "ack after acceptance")
        assert worker.stats().alarm_retries == 2
    finally:
        pub.close()
        worker.stop()


def test_duplicates_are_harmless(broker, store, tmp_path):
    worker = started(Ingest(make_settings(broker, tmp_path), store=store))
    pub = Publisher(broker.host, broker.port)
    sent = reading_stream(40, homes=2, devices=2)
    try:
        pub.publish(sent + sent[:25])
        pub.wait_all_published()
        wait_until(lambda: worker.stats().acked >= 65, 20, "all acknowledged")
        assert stored_keys(store, sent) == expected_keys(sent)
        total = sum(len(store.readings(h, sent[0].ts - timedelta(1), sent[-1].ts + timedelta(1)))
                    for h in ("home-0", "home-1"))
        assert total == 40
    finally:
        pub.close()
        worker.stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_graceful_restart_loses_nothing_and_session_keeps_queueing(broker, store, tmp_path, protocol):
    settings = make_settings(broker, tmp_path, protocol)
    worker = started(Ingest(settings, store=store))
    pub = Publisher(broker.host, broker.port, protocol)
    sent = reading_stream(3000, homes=10, devices=3)
    try:
        pub.publish(sent[:1000])
        pub.wait_all_published()
        worker.stop()
        # Published while ingest is down: the broker keeps them for the persistent session.
        pub.publish(sent[1000:])
        pub.wait_all_published()
        worker = started(Ingest(settings, store=store))
        wait_until(lambda: count_stored(store, sent) == len(sent), 60, "every reading stored", interval=0.5)
    finally:
        pub.close()
        worker.stop()


def test_broker_restart_loses_nothing(broker, store, tmp_path):
    settings = make_settings(broker, tmp_path)
    settings.broker.reconnect_max_s = 2
    worker = started(Ingest(settings, store=store))
    sent = reading_stream(4000, homes=10, devices=4)
    pub = Publisher(broker.host, broker.port, client_id="restart-publisher")
    try:
        pub.publish(sent[:2000])
        pub.wait_all_published()
        broker.restart()  # clean shutdown: mosquitto saves sessions and queued messages
        wait_until(pub.client.is_connected, 30, "publisher to reconnect")
        pub.publish(sent[2000:])
        pub.wait_all_published(timeout=60)
        wait_until(lambda: count_stored(store, sent) == len(sent), 60, "every reading stored", interval=0.5)
    finally:
        pub.close()
        worker.stop()


def test_embedded_broker_gives_the_same_guarantees(tmp_path, sqlite_store):
    from tecwatch.broker import EmbeddedBroker
    from tecwatch.localservices import free_port

    port = free_port()
    with EmbeddedBroker("127.0.0.1", port):
        settings = Settings(
            broker=BrokerSettings(mode="embedded", port=port, protocol="3.1.1"),
            registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"),
            ingest=IngestSettings(client_id="embedded-ingest", batch_max_wait_s=0.05),
        )
        worker = started(Ingest(settings, store=sqlite_store))
        pub = Publisher("127.0.0.1", port, "3.1.1")
        sent = reading_stream(600, homes=3, devices=2)
        try:
            pub.publish(sent[:300])
            pub.wait_all_published()
            wait_until(lambda: worker.stats().acked >= 300, 20, "first half acknowledged")
            worker.stop()
            pub.publish(sent[300:])
            pub.wait_all_published()
            worker = started(Ingest(settings, store=sqlite_store))
            wait_until(lambda: count_stored(sqlite_store, sent) == len(sent), 30, "all stored", interval=0.3)
        finally:
            pub.close()
            worker.stop()


topics = st.one_of(
    st.sampled_from(["tec/v1/fz/d1/reading", "tec/v1/fz/d1/event", "tec/v1/fz/gateway/status", "tec/v1/x"]),
    # Only topics a broker accepts reach ingest: mosquitto drops publishers that send control
    # characters or wildcards in a topic.
    st.text(alphabet=st.characters(whitelist_categories=["L", "N", "P", "S", "Zs"], blacklist_characters="#+"),
            min_size=1, max_size=40).map(lambda s: "tec/v1/" + s),
)


@pytest.fixture
def fuzz_worker(broker, tmp_path, store):
    worker = started(Ingest(make_settings(broker, tmp_path), store=store))
    pub = Publisher(broker.host, broker.port)
    yield worker, pub, store
    pub.close()
    worker.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(topics, st.binary(max_size=400)), min_size=1, max_size=15))
def test_fuzzed_payloads_never_stop_valid_data(fuzz_worker, batch):
    worker, pub, store = fuzz_worker
    # A fresh event time per example, so each sentinel is a new reading.
    sentinel = reading_stream(1, homes=1, devices=1, start=datetime.now(timezone.utc) - timedelta(minutes=1))[0]
    pub.publish(batch)
    pub.publish([sentinel])
    key = (sentinel.home_id, sentinel.device_id, sentinel.ts)
    wait_until(lambda: key in stored_keys(store, [sentinel]), 15, "the valid reading after the garbage",
               interval=0.02)
    assert all(t.is_alive() for t in worker.service._threads)  # noqa: SLF001


def test_a_reading_the_store_refuses_is_dead_lettered_and_the_rest_stored(broker, tmp_path, influxd):
    from tecwatch.store import InfluxStore

    store = InfluxStore(influxd.url, f"conflict_{uuid.uuid4().hex[:8]}")
    sent = reading_stream(40, homes=2, devices=2)  # dev-0 motion, dev-1 temperature
    # Another writer got there first with `occupancy` as a string: InfluxDB now refuses booleans.
    store.write_lines([f'reading,home_id=other,device_id=x,device_type=motion occupancy="yes" '
                       f'{int(sent[0].ts.timestamp() * 1000) * 1_000_000}'])
    worker = started(Ingest(make_settings(broker, tmp_path), store=store))
    pub = Publisher(broker.host, broker.port)
    try:
        pub.publish(sent)
        pub.wait_all_published()
        wait_until(lambda: worker.stats().acked == len(sent), 30, "everything acknowledged")
        motion = [s for s in sent if s.device_id == "dev-0"]
        others = [s for s in sent if s.device_id != "dev-0"]
        assert stored_keys(store, others) == expected_keys(others)
        stats = worker.stats()
        assert stats.rejected == {"store_rejected": len(motion)}
        assert stats.written == len(others)
        letters = worker.dead_letters.list(reason="store_rejected", limit=100)
        assert {d.payload for d in letters} == {s.payload for s in motion}
        assert "conflict" in letters[0].detail
    finally:
        pub.close()
        worker.stop()
        store.close()
