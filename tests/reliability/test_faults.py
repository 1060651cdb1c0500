"""Faults under steady traffic on real services: the broker, InfluxDB and PostgreSQL go away and
come back, and the monitoring centre's receiver is down for a while. Every reading published is
stored, every pendant press becomes one alert and reaches the monitoring centre."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

from receivers import WebhookReceiver
from support import wait_until

from harness import PlatformRun

pytestmark = pytest.mark.slow


@contextmanager
def _run(tmp_path, registry_url, **kwargs) -> Iterator[PlatformRun]:
    """The platform, stopped whatever happens in the test (a failure, a timeout)."""
    run = PlatformRun(tmp_path, registry_url, **kwargs)
    try:
        yield run.start()
    finally:
        run.stop()


def _finish(run: PlatformRun, name: str, record) -> None:
    # On a busy machine the hubs publish less in the same seconds: keep them going until there
    # is enough traffic to prove anything.
    wait_until(lambda: sum(run.traffic.readings.values()) > 1000 and len(run.traffic.presses) >= 3, 120,
               "enough traffic to prove anything")
    run.settle()
    outcome = run.outcome(name)
    run.stop()
    record(outcome.line())
    print(outcome.line())
    assert outcome.presses >= 3 and outcome.readings_published > 1000, "too little traffic to prove anything"
    assert not outcome.lost, outcome.line()


def test_broker_restart_with_persistence(tmp_path, postgres_registry_url, record):
    with _run(tmp_path, postgres_registry_url) as run:
        time.sleep(4)
        run.broker.restart()  # sessions and queued messages saved to disk and read back
        time.sleep(4)
        run.broker.restart()
        time.sleep(4)
        _finish(run, "broker restarted twice", record)


def _crash_broker(run: PlatformRun) -> None:
    """SIGKILL mosquitto and start it again: what it took since its last save is gone."""
    run.broker.kill()
    time.sleep(1)
    run.broker.start()


def test_broker_crash_loses_nothing(tmp_path, postgres_registry_url, record):
    """Mosquitto killed twice mid-stream, saving every 30 s as in deploy/mosquitto: everything it
    took and lost, the hubs still hold unconfirmed and send again."""
    with _run(tmp_path, postgres_registry_url, autosave_interval_s=30) as run:
        for _ in range(2):
            time.sleep(4)
            _crash_broker(run)
        time.sleep(4)
        _finish(run, "broker SIGKILLed twice", record)


def test_broker_crash_and_an_ingest_worker_killed_at_once_lose_nothing(tmp_path, postgres_registry_url, record):
    with _run(tmp_path, postgres_registry_url, autosave_interval_s=30) as run:
        time.sleep(4)
        victim = int(re.search(r"ingest worker 0 started \(pid (\d+)\)", run.processes[0].log()).group(1))
        os.kill(victim, signal.SIGKILL)
        _crash_broker(run)
        time.sleep(6)
        _finish(run, "broker and an ingest worker SIGKILLed at once", record)


def test_influxdb_restart(tmp_path, postgres_registry_url, record):
    with _run(tmp_path, postgres_registry_url) as run:
        time.sleep(4)
        run.influxd.stop()
        time.sleep(4)  # readings pile up unacknowledged; alarms still become alerts meanwhile
        assert run.webhook.received, "pendant presses reach the monitoring centre while InfluxDB is down"
        run.influxd.start()
        time.sleep(4)
        _finish(run, "InfluxDB stopped for 4 s", record)


def test_postgresql_connection_loss(tmp_path, postgres_registry_url, record):
    with _run(tmp_path, postgres_registry_url) as run:
        database = make_url(postgres_registry_url).database
        for _ in range(3):  # every connection to the registry cut, three times over
            time.sleep(3)
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
                cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()[0]
            assert cut > 0
        time.sleep(3)
        _finish(run, "PostgreSQL connections cut 3 times", record)


def test_monitoring_centre_outage(tmp_path, postgres_registry_url, record):
    down = WebhookReceiver(statuses=[503] * 12)  # the first dozen deliveries fail
    with _run(tmp_path, postgres_registry_url, webhook=down) as run:
        wait_until(lambda: not down.statuses, 60, "the outage to be met")
        time.sleep(4)
        _finish(run, "monitoring centre answered 503 twelve times", record)


def test_soak(tmp_path, postgres_registry_url, record, request):
    minutes = request.config.getoption("--soak-minutes")
    if not minutes:
        pytest.skip("the soak runs with --soak-minutes N (e.g. 10)")
    with _run(tmp_path, postgres_registry_url) as run:
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
            print(f"soak: {sum(run.traffic.readings.values()):,} readings published, {run.stored():,} stored", flush=True)
        _finish(run, f"soak of {minutes:g} minutes at a steady rate", record)
