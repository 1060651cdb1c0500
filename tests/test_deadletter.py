"""The dead-letter store on SQLite and on the real PostgreSQL (127.0.0.1:5432)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tecwatch.db import make_engine
from tecwatch.ingest.deadletter import DeadLetter, DeadLetterStore

@pytest.fixture(params=["sqlite", "postgresql"])
def dead_letters(request, tmp_path):
    url = f"sqlite:///{tmp_path}/registry.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    store = DeadLetterStore(engine)
    yield store
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM dead_letters")
    engine.dispose()


def test_rejected_messages_are_kept_byte_for_byte_and_listed_newest_first(dead_letters):
    t0 = datetime(2026, 11, 25, 3, 0, 0, 123000, tzinfo=timezone.utc)
    letters = [
        DeadLetter("tec/v1/h1/d1/reading", b"\xff\xfe\x00not utf-8", "not_json", "Invalid JSON", t0),
        DeadLetter("tec/v1/h1/d1/reading", b'{"type":"toaster"}', "unknown_device_type", "unknown 'toaster'",
                   t0 + timedelta(seconds=1)),
        DeadLetter("tec/v1/h2/d9/reading", b"{}", "missing_type", "no 'type'", t0 + timedelta(seconds=2)),
    ]
    dead_letters.add(letters[:2])
    dead_letters.add(letters[2:])
    listed = dead_letters.list()
    assert [d.payload for d in listed] == [d.payload for d in reversed(letters)]
    assert [(d.topic, d.reason, d.detail, d.received_at) for d in listed] == [
        (d.topic, d.reason, d.detail, d.received_at) for d in reversed(letters)
    ]
    assert all(d.id is not None for d in listed)
    assert [d.reason for d in dead_letters.list(reason="not_json")] == ["not_json"]
    assert [d.reason for d in dead_letters.list(limit=1, offset=1)] == ["unknown_device_type"]
    assert dead_letters.count_by_reason() == {"not_json": 1, "unknown_device_type": 1, "missing_type": 1}


def test_an_empty_batch_writes_nothing(dead_letters):
    dead_letters.add([])
    assert dead_letters.list() == [] and dead_letters.count_by_reason() == {}
