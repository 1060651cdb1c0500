"""The gateway outbox: durable, alarms first, capped loudly, sequence survives restarts."""

from __future__ import annotations

import logging
import multiprocessing as mp

from tecwatch.gateway.outbox import Outbox


def test_messages_leave_alarms_first_then_in_order_and_survive_a_restart(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    for i in range(5):
        box.put(f"tec/v1/h/d{i}/reading", f"r{i}".encode())
    box.put("tec/v1/h/pendant/event", b"press", alarm=True)
    box.close()

    box = Outbox(tmp_path / "outbox.db")  # a restarted gateway
    queued = box.peek(10)
    assert [q.payload for q in queued] == [b"press", b"r0", b"r1", b"r2", b"r3", b"r4"]
    assert queued[0].alarm and not queued[1].alarm
    box.remove([q.id for q in queued[:3]])
    assert [q.payload for q in box.peek(10)] == [b"r2", b"r3", b"r4"]
    assert box.depth() == 3


def test_sequence_is_monotonic_across_restarts(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    first = [box.next_seq() for _ in range(3)]
    box.close()
    box = Outbox(tmp_path / "outbox.db")
    assert first == [1, 2, 3] and box.next_seq() == 4


def test_past_the_cap_the_oldest_readings_go_loudly_and_alarms_stay(tmp_path, caplog):
    box = Outbox(tmp_path / "outbox.db", max_messages=4)
    box.put("t/alarm", b"a0", alarm=True)
    for i in range(6):
        box.put("t/reading", f"r{i}".encode())
    with caplog.at_level(logging.WARNING):
        box.put("t/alarm", b"a1", alarm=True)
    assert [q.payload for q in box.peek(10)] == [b"a0", b"a1", b"r4", b"r5"]
    assert box.dropped() == 4
    assert "OUTBOX FULL" in caplog.text


def _kill_after_put(path: str) -> None:
    box = Outbox(path)
    box.put("t/reading", b"durable")
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)  # no close, no clean shutdown


def test_a_put_is_on_disk_when_it_returns(tmp_path):
    path = str(tmp_path / "outbox.db")
    proc = mp.get_context("spawn").Process(target=_kill_after_put, args=(path,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -9
    assert [q.payload for q in Outbox(path).peek()] == [b"durable"]
