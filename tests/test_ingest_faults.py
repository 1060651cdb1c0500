"""Fault tests: the ingest process is SIGKILLed, and InfluxDB goes away, mid-stream. Nothing is lost."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from tecwatch.store.influx import InfluxStore
from tecwatch.localservices import Influxd, Mosquitto

from support import (Publisher, TecwatchProcess, count_stored, expected_keys, reading_stream, run_tecwatch, stored_keys,
                     wait_until)

pytestmark = pytest.mark.slow


def ingest_env(broker: Mosquitto, influx_url: str, database: str, tmp_path: Path, protocol: str) -> dict[str, str]:
    return {
        "TECWATCH_BROKER__MODE": "external",
        "TECWATCH_BROKER__HOST": broker.host,
        "TECWATCH_BROKER__PORT": str(broker.port),
        "TECWATCH_BROKER__PROTOCOL": protocol,
        "TECWATCH_STORE__BACKEND": "influxdb",
        "TECWATCH_STORE__INFLUX_URL": influx_url,
        "TECWATCH_STORE__INFLUX_DATABASE": database,
        "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db",
        "TECWATCH_DATA_DIR": str(tmp_path / "data"),
        "TECWATCH_INGEST__CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}",
        "TECWATCH_INGEST__STATS_INTERVAL_S": "1",
        "TECWATCH_INGEST__STORE_RETRY_MAX_S": "2",
    }


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_sigkill_mid_stream_loses_nothing(tmp_path, influxd, protocol):
    total = 12_000
    database = f"kill_{uuid.uuid4().hex[:8]}"
    store = InfluxStore(influxd.url, database)
    sent = reading_stream(total, homes=20, devices=5)
    with Mosquitto(tmp_path / "mosquitto") as broker:
        ingest = TecwatchProcess(["ingest"], tmp_path / "ingest.log", ingest_env(broker, influxd.url, database, tmp_path, protocol))
        pub = Publisher(broker.host, broker.port, protocol)
        try:
            ingest.start()
            # Paused, the worker builds up a backlog at the broker, so that when it is killed it
            # is draining at full speed with messages in flight, however fast the publisher is.
            pub.publish(sent[:100])  # subscribed and storing before the pause
            wait_until(lambda: count_stored(store, sent) >= 100, 60, "ingest to store the first 100", interval=0.1)
            os.kill(ingest.proc.pid, signal.SIGSTOP)
            pub.publish(sent[100: total // 2])
            pub.wait_all_published(120)
            os.kill(ingest.proc.pid, signal.SIGCONT)
            publishing = threading.Thread(target=lambda: (pub.publish(sent[total // 2:]), pub.wait_all_published(120)))
            publishing.start()
            # Kill it while it is busy: some stored, more in flight, more still to come.
            wait_until(lambda: count_stored(store, sent) >= 2000, 60, "ingest to store 2000", interval=0.2)
            # Frozen first, so the broker fills its in-flight window with messages the worker will
            # never acknowledge: the kill then always leaves some to be redelivered.
            os.kill(ingest.proc.pid, signal.SIGSTOP)
            time.sleep(0.5)
            ingest.kill()
            at_kill = count_stored(store, sent)
            assert at_kill < total, "stream finished before the kill; the test proves nothing"
            publishing.join(120)
            ingest.start()
            wait_until(lambda: count_stored(store, sent) >= total, 120, "all readings stored", interval=0.5)
            assert stored_keys(store, sent) == expected_keys(sent)  # every one, exactly once in effect
        finally:
            pub.close()
            ingest.stop()
            store.close()
    # The kill left messages unacknowledged and the broker sent them again: the restarted
    # worker's final summary (written on its clean stop) counts them.
    summary = re.findall(r"ingest worker stopped: .* redelivered=(\d+)", ingest.log())
    assert summary and int(summary[-1]) > 0, summary


def test_influxdb_outage_mid_stream_loses_nothing(tmp_path):
    with Influxd(tmp_path / "influxd") as influx, Mosquitto(tmp_path / "mosquitto") as broker:
        database = "outage"
        store = InfluxStore(influx.url, database)
        ingest = TecwatchProcess(["ingest"], tmp_path / "ingest.log", ingest_env(broker, influx.url, database, tmp_path, "5"))
        pub = Publisher(broker.host, broker.port)
        sent = reading_stream(6000, homes=10, devices=5)
        try:
            ingest.start()
            pub.publish(sent[:2000])
            pub.wait_all_published()
            wait_until(lambda: count_stored(store, sent) >= 2000, 60, "first part stored", interval=0.2)
            influx.stop()
            pub.publish(sent[2000:4000])  # arrives while the store is down
            pub.wait_all_published()
            wait_until(lambda: "unavailable" in (tmp_path / "ingest.log").read_text(), 20,
                       "ingest to notice the outage")
            influx.start()
            pub.publish(sent[4000:])
            pub.wait_all_published()
            wait_until(lambda: count_stored(store, sent) >= len(sent), 90, "all readings stored", interval=0.5)
            assert stored_keys(store, sent) == expected_keys(sent)
            assert "is back" in (tmp_path / "ingest.log").read_text()
        finally:
            pub.close()
            ingest.stop()
            store.close()


def test_two_workers_share_the_stream_and_a_killed_one_loses_nothing(tmp_path, influxd):
    database = f"pool_{uuid.uuid4().hex[:8]}"
    store = InfluxStore(influxd.url, database)
    sent = reading_stream(8000, homes=20, devices=4)
    with Mosquitto(tmp_path / "mosquitto") as broker:
        env = ingest_env(broker, influxd.url, database, tmp_path, "5")
        pool = TecwatchProcess(["ingest", "--workers", "2"], tmp_path / "ingest.log", env, ready_marker=b"subscribing to $share")
        pub = Publisher(broker.host, broker.port)
        try:
            pool.start()
            wait_until(lambda: pool.log().count("subscribing to $share/") >= 2, 20, "both workers subscribed")
            publishing = threading.Thread(target=lambda: (pub.publish(sent), pub.wait_all_published(120)))
            publishing.start()
            wait_until(lambda: count_stored(store, sent) >= 1500, 60, "the pool to store 1500", interval=0.2)
            victim = int(re.search(r"ingest worker 0 started \(pid (\d+)\)", pool.log()).group(1))
            os.kill(victim, signal.SIGKILL)
            assert count_stored(store, sent) < len(sent), "stream finished before the kill"
            publishing.join(120)
            wait_until(lambda: count_stored(store, sent) >= len(sent), 120, "all readings stored", interval=0.5)
            assert stored_keys(store, sent) == expected_keys(sent)
            assert "exited (code -9); restarting" in pool.log()
            # One health check covers the pool: healthy when each worker is, saying what each did.
            health = lambda: run_tecwatch(["healthcheck", "ingest"], tmp_path, env)  # noqa: E731
            wait_until(lambda: health().returncode == 0, 30, "the pool's health status", interval=1)
            assert "worker 0: received=" in health().stdout and "worker 1: received=" in health().stdout
        finally:
            pub.close()
            pool.stop()
            store.close()
    # Both workers took part: each one's final summary (on a clean stop) shows readings written.
    written = dict(re.findall(r"\[worker (\d)\] tecwatch.services: ingest worker stopped: "
                              r"received=\d+ written=(\d+)", pool.log()))
    assert int(written.get("0", 0)) > 0 and int(written.get("1", 0)) > 0, written
