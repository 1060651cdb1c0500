"""Ingest on brokers other than Mosquitto. NATS's MQTT listener keeps persistent sessions, so one
ingest worker is at home there; it has no shared subscriptions, so several workers on one
would receive nothing at all: ingest finds out with a probe at start and refuses to run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tecwatch.localservices import NatsMqtt
from tecwatch.supervise import REFUSED_EXIT
from tecwatch.store.sqlite import SQLiteStore

from support import Publisher, TecwatchProcess, count_stored, reading_stream, wait_until


def _env(broker: NatsMqtt, tmp_path) -> dict[str, str]:
    return {
        "TECWATCH_BROKER__MODE": "external", "TECWATCH_BROKER__HOST": broker.host,
        "TECWATCH_BROKER__PORT": str(broker.port), "TECWATCH_BROKER__PROTOCOL": "3.1.1",
        "TECWATCH_STORE__SQLITE_PATH": str(tmp_path / "readings.db"),
        "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db", "TECWATCH_DATA_DIR": str(tmp_path / "data"),
        "TECWATCH_INGEST__PROBE_TIMEOUT_S": "3",
    }


def test_several_workers_refuse_a_broker_without_shared_subscriptions(tmp_path):
    with NatsMqtt(tmp_path / "nats") as nats:
        pool = TecwatchProcess(["ingest", "--workers", "2"], tmp_path / "ingest.log", _env(nats, tmp_path),
                               ready_marker=b"subscribing to $share")
        try:
            pool.start()
            assert pool.proc.wait(60) == REFUSED_EXIT
        finally:
            pool.stop()
    log = pool.log()
    assert "refusing to run" in log and "does not support shared subscriptions" in log, log[-2000:]


def test_one_worker_keeps_its_session_on_nats(tmp_path):
    env = _env(nats := NatsMqtt(tmp_path / "nats"), tmp_path)
    store = SQLiteStore(tmp_path / "readings.db")
    with nats:
        ingest = TecwatchProcess(["ingest"], tmp_path / "ingest.log", env)
        pub = Publisher(nats.host, nats.port, protocol="3.1.1")
        sent = reading_stream(100, homes=2, devices=2, start=datetime.now(timezone.utc) - timedelta(minutes=10))
        try:
            ingest.start()
            wait_until(lambda: "subscribed" in ingest.log() or "subscribing" in ingest.log(), 10, "ingest subscribed")
            pub.publish(sent[:50])
            wait_until(lambda: count_stored(store, sent) == 50, 20, "the first half stored")
            ingest.stop()
            pub.publish(sent[50:])  # kept for ingest's persistent session while it is down
            pub.wait_all_published()
            ingest.start()
            wait_until(lambda: count_stored(store, sent) == 100, 30, "the second half stored after the restart")
        finally:
            pub.close()
            ingest.stop()
            store.close()
