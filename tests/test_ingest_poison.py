"""No one message stops ingest: hostile and broken input over a real mosquitto into each real
store becomes a dead letter with a precise reason, is acknowledged, and the next valid reading
is stored at once. Threads that die anyway end the process; health means progress."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tecwatch.devices import DEVICE_TYPES
from tecwatch.devices.catalogue import fields_of
from tecwatch.ingest.alarms import LoggingAlarmSink
from tecwatch.services import Ingest
from tecwatch.supervise import THREAD_DIED_EXIT, Supervisor

from support import Publisher, reading_stream, run_tecwatch, stored_keys, wait_until, TecwatchProcess
from test_ingest import broker, make_settings, sqlite_store, started  # noqa: F401 - fixtures shared with it


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _valid_reading_is_stored_within(pub: Publisher, store, seconds: float) -> None:
    sentinel = reading_stream(1, homes=1, devices=1, start=datetime.now(timezone.utc) - timedelta(seconds=30))[0]
    pub.publish([sentinel])
    key = (sentinel.home_id, sentinel.device_id, sentinel.ts)
    wait_until(lambda: key in stored_keys(store, [sentinel]), seconds, "the valid reading after the poison",
               interval=0.02)


POISON = [
    # Validation took it; SQLite raised OverflowError and the writer thread died.
    ("tec/v1/home-p/pir-1/reading",
     lambda: {"type": "motion", "ts": _now(), "seq": 9223372036854775808, "occupancy": True},
     "invalid_value", "seq"),
    # astimezone raised OverflowError in the MQTT callback and the network thread died.
    ("tec/v1/home-p/pir-1/reading",
     lambda: {"type": "motion", "ts": "0001-01-01T00:00:00+14:00", "seq": 1, "occupancy": True},
     "invalid_ts", "out of range"),
    ("tec/v1/home-p/pir-1/reading",
     lambda: {"type": "motion", "ts": "9999-12-31T23:59:59-14:00", "seq": 2, "occupancy": True},
     "invalid_ts", "out of range"),
]


def test_poison_messages_are_dead_letters_and_ingest_goes_on(broker, store, tmp_path):
    worker = started(Ingest(make_settings(broker, tmp_path), store=store))
    pub = Publisher(broker.host, broker.port)
    try:
        for n, (topic, body, reason, said) in enumerate(POISON, start=1):
            pub.publish([(topic, json.dumps(body()).encode())])
            _valid_reading_is_stored_within(pub, store, 2.0)
            wait_until(lambda: sum(worker.dead_letters.count_by_reason().values()) == n, 2, "the dead letter")
            letter = worker.dead_letters.list(limit=1)[0]
            assert (letter.reason, letter.topic) == (reason, topic) and said in letter.detail, letter
        wait_until(lambda: worker.stats().acked == worker.stats().received, 5, "everything acknowledged")
        assert worker.stats().rejected == {"invalid_value": 1, "invalid_ts": 2}
        assert all(t.is_alive() for t in worker.service._threads)  # noqa: SLF001
        assert worker.health().ok, worker.health()
    finally:
        pub.close()
        worker.stop()


def _json_values():
    scalars = st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400]),
        st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -1e308, 5e-324]),
        st.text(max_size=30), st.sampled_from(["\x00", "\u0000x", "\ud7ff", "\ud800", "😀", "a\\b", "'; DROP TABLE x", ""]),
    )
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                        max_leaves=8)


times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                 timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))]))
    .map(lambda t: t.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-02-30T00:00:00Z", "yesterday",
                     "2026-12-02T10:00:00", "1970-01-01T00:00:00Z", "", "2026-12-02T10:00:00+25:00"]),
    _json_values(),
)
DEVICE_FIELDS = {name: [f.name for f in fields_of(dt)] for name, dt in DEVICE_TYPES.items()}


@st.composite
def hostile_messages(draw):
    """A message of a real device type where any field (ts, seq, values, envelope) may be
    anything JSON can say, and the whole may be nested deep."""
    device_type = draw(st.sampled_from(sorted(DEVICE_FIELDS)))
    body = {"type": device_type, "ts": _now(), "seq": draw(st.integers(0, 10**6))}
    for name in draw(st.lists(st.sampled_from(["ts", "seq", "room", "home_id", "device_id", *DEVICE_FIELDS[device_type],
                                               "unknown"]), min_size=1, max_size=4)):
        body[name] = draw(times) if name == "ts" else draw(_json_values())
    text = json.dumps(body)
    if draw(st.booleans()):  # deep nesting (built as text: json.dumps itself would recurse too deep)
        depth = draw(st.integers(1, 3000))
        text = "[" * depth + text + "]" * depth
    channel = "status" if device_type == "gateway" else draw(st.sampled_from(["reading", "event"]))
    device = "gateway" if device_type == "gateway" else "dev-1"
    return f"tec/v1/fz/{device}/{channel}", text.encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(message=hostile_messages())
def test_arbitrary_json_in_every_field_never_stops_valid_data(fuzz_ingest, message):
    worker, pub, store = fuzz_ingest
    pub.publish([message])
    _valid_reading_is_stored_within(pub, store, 5.0)
    assert all(t.is_alive() for t in worker.service._threads)  # noqa: SLF001
    assert worker.stats().rejected.get("internal_error", 0) == 0, worker.dead_letters.list(reason="internal_error")


@pytest.fixture
def fuzz_ingest(broker, tmp_path, store):
    worker = started(Ingest(make_settings(broker, tmp_path), alarm_sink=LoggingAlarmSink(), store=store))
    pub = Publisher(broker.host, broker.port)
    yield worker, pub, store
    pub.close()
    worker.stop()


class FaultyStore:
    """A real store with a fault nobody foresaw: one device's readings make it raise."""

    def __init__(self, inner, device_id: str):
        self.inner = inner
        self.device_id = device_id

    def write(self, readings):
        if any(r.device_id == self.device_id for r in readings):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        self.inner.write(readings)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_an_unexpected_error_on_one_message_makes_it_a_dead_letter_not_a_loop(broker, tmp_path, sqlite_store):
    settings = make_settings(broker, tmp_path)
    worker = started(Ingest(settings, store=FaultyStore(sqlite_store, "poison-1")))
    pub = Publisher(broker.host, broker.port)
    sent = reading_stream(30, homes=3, devices=2)
    poison = ("tec/v1/home-0/poison-1/reading",
              json.dumps({"type": "motion", "ts": _now(), "seq": 5, "occupancy": True}).encode())
    try:
        pub.publish([*sent[:15], poison, *sent[15:]])
        pub.wait_all_published()
        wait_until(lambda: worker.stats().acked == 31, 10, "everything acknowledged, the poison too")
        assert stored_keys(sqlite_store, sent) == {(s.home_id, s.device_id, s.ts) for s in sent}
        letter = worker.dead_letters.list(reason="internal_error")[0]
        assert letter.topic == poison[0] and "OverflowError" in letter.detail and letter.payload == poison[1]
        worker.stop()
        # Acknowledged: a restart does not bring it back.
        worker = started(Ingest(settings, store=FaultyStore(sqlite_store, "poison-1")))
        _valid_reading_is_stored_within(pub, sqlite_store, 2.0)
        assert worker.stats().received == 1 and len(worker.dead_letters.list(reason="internal_error")) == 1
    finally:
        pub.close()
        worker.stop()


class AlertEngineWithAFault(LoggingAlarmSink):
    def accept(self, alarm):
        if alarm.device_id == "pendant-bad":
            raise ValueError("a bug the alert engine has with this alarm")
        super().accept(alarm)


def test_an_alarm_the_alert_engine_always_fails_on_does_not_block_the_others(broker, tmp_path, store):
    sink = AlertEngineWithAFault()
    worker = started(Ingest(make_settings(broker, tmp_path, store_retry_min_s=0.05), alarm_sink=sink, store=store))
    pub = Publisher(broker.host, broker.port)
    press = lambda home, dev: (f"tec/v1/{home}/{dev}/event",  # noqa: E731
                               json.dumps({"type": "pendant", "ts": _now(), "seq": 1, "action": "press"}).encode())
    try:
        pub.publish([press("home-a", "pendant-bad"), press("home-b", "pendant-1")])
        wait_until(lambda: [a.home_id for a in sink.recent()] == ["home-b"], 10, "the other home's alarm")
        wait_until(lambda: worker.stats().acked == 2, 10, "both acknowledged")
        stats = worker.stats()
        assert stats.alarm_failures == 1 and "ALARMS-NOT-RAISED=1" in stats.summary()
        letter = worker.dead_letters.list(reason="internal_error")[0]
        assert "alarm not raised" in letter.detail and "ValueError" in letter.detail
        start = datetime.now(timezone.utc) - timedelta(minutes=1)
        assert [r.device_id for r in store.readings("home-a", start, start + timedelta(minutes=2))] == ["pendant-bad"]
    finally:
        pub.close()
        worker.stop()


def test_a_thread_that_dies_ends_the_process_with_a_clear_line():
    script = (
        "import threading, logging, time\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from tecwatch.supervise import Supervisor\n"
        "def work():\n"
        "    raise RuntimeError('the store driver broke')\n"
        "Supervisor().spawn('ingest-writer', work, threading.Event())\n"
        "time.sleep(30)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == THREAD_DIED_EXIT
    assert "thread ingest-writer died: RuntimeError: the store driver broke" in done.stderr
    assert "exiting (code 70) so that the supervisor restarts this process" in done.stderr


class DeadlyStore(FaultyStore):
    def write(self, readings):
        raise SystemExit("something below Python's exceptions")


def test_ingest_threads_are_supervised(broker, tmp_path, sqlite_store):
    deaths = []
    worker = started(Ingest(make_settings(broker, tmp_path), store=DeadlyStore(sqlite_store, ""),
                            supervisor=Supervisor(on_death=lambda name, err: deaths.append((name, err)))))
    pub = Publisher(broker.host, broker.port)
    try:
        pub.publish(reading_stream(1))
        wait_until(lambda: deaths, 10, "the writer's death to be seen")
        assert deaths[0][0] == "ingest-writer" and isinstance(deaths[0][1], SystemExit)
    finally:
        pub.close()
        worker.stop()


def test_health_is_progress_not_a_connection(broker, tmp_path):
    """`tecwatch ingest` as a process: healthy while it stores; with its store locked, messages
    wait and the health check says so (while the connection is fine); healthy again after."""
    db = tmp_path / "readings.db"
    env = {
        "TECWATCH_BROKER__MODE": "external", "TECWATCH_BROKER__HOST": broker.host,
        "TECWATCH_BROKER__PORT": str(broker.port), "TECWATCH_STORE__SQLITE_PATH": str(db),
        "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db", "TECWATCH_DATA_DIR": str(tmp_path / "data"),
        "TECWATCH_INGEST__STALL_AFTER_S": "2", "TECWATCH_INGEST__CLIENT_ID": "health-ingest",
    }
    ingest = TecwatchProcess(["ingest"], tmp_path / "ingest.log", env)
    pub = Publisher(broker.host, broker.port)
    check = lambda: run_tecwatch(["healthcheck", "ingest", "--max-age", "10"], tmp_path, env)  # noqa: E731
    try:
        ingest.start()
        pub.publish(reading_stream(20))
        wait_until(lambda: check().returncode == 0 and "written=20" in check().stdout, 20, "healthy with progress")
        lock = sqlite3.connect(db, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")  # the store takes no writes while this is held
        try:
            pub.publish(reading_stream(10, start=datetime.now(timezone.utc) - timedelta(minutes=5)))
            wait_until(lambda: check().returncode == 1, 40, "unhealthy while nothing is stored")
            assert "10 messages waiting and none stored or acknowledged" in check().stderr
        finally:
            lock.rollback()
            lock.close()
        wait_until(lambda: check().returncode == 0 and "written=30" in check().stdout, 60, "healthy again")
    finally:
        pub.close()
        ingest.stop()
    assert "Traceback" not in ingest.log()
