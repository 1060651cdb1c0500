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


def test_what_reached_no_subscriber_stays_in_the_outbox_until_ingest_is_back(tmp_path):
    """Mosquitto takes a message nobody subscribes to and drops it (as after its own restart,
    before ingest has subscribed again to its shared subscription); over MQTT 5 it says so, and
    the outbox keeps the message until someone receives it."""
    import threading
    import time

    import paho.mqtt.client as mqtt

    from tecwatch.gateway.forwarder import Forwarder
    from tecwatch.localservices import Mosquitto

    from support import wait_until

    with Mosquitto(tmp_path / "platform") as broker:
        box = Outbox(tmp_path / "outbox.db")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-test", protocol=mqtt.MQTTv5)
        forwarder = Forwarder(box, client, no_subscriber_pause_s=0.5)
        client.on_publish = forwarder.on_publish
        client.connect(broker.host, broker.port)
        client.loop_start()
        stop = threading.Event()
        thread = threading.Thread(target=forwarder.run, args=(stop, 0.1), daemon=True)
        thread.start()
        got: list[str] = []
        ingest = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ingest-test", protocol=mqtt.MQTTv5)
        ingest.on_message = lambda _c, _u, m: got.append(m.payload.decode())
        try:
            wait_until(client.is_connected, 10, "the gateway to connect")
            for i in range(5):
                box.put(f"tec/v1/home-1/pir-{i}/reading", str(i).encode())
            forwarder.notify()
            time.sleep(1.5)  # published (and taken) three times over, delivered to nobody
            assert box.depth() == 5 and forwarder.sent == 0
            ingest.connect(broker.host, broker.port)
            ingest.subscribe("$share/ingest/tec/v1/#", qos=1)
            ingest.loop_start()
            wait_until(lambda: box.depth() == 0, 10, "the outbox to drain once ingest subscribes")
            wait_until(lambda: len(got) >= 5, 10, "ingest to receive them")
            assert sorted(set(got)) == ["0", "1", "2", "3", "4"] and forwarder.sent == 5
        finally:
            stop.set()
            thread.join(5)
            for c in (client, ingest):
                c.disconnect()
                c.loop_stop()
            box.close()


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _sequenced(box: Outbox, n: int, alarm_at: int | None = None) -> list[int]:
    return [box.put_sequenced(lambda seq, i=i: (f"tec/v1/h/d{i}/reading", f"r{seq}".encode(), i == alarm_at))
            for i in range(n)]


def test_a_message_the_broker_took_stays_until_the_platform_confirms_it(tmp_path):
    clock = Clock()
    box = Outbox(tmp_path / "outbox.db", resend_after_s=30, resend_max_s=120, clock=clock)
    seqs = _sequenced(box, 3)
    taken = box.peek(10)
    box.settle([q.id for q in taken])
    assert box.depth() == 3 and box.unconfirmed() == (3, 0.0)
    assert box.peek(10) == [], "taken by the broker: not sent again before its confirmation is due"
    assert box.confirm([seqs[0], seqs[2], 999]) == 2
    clock.now += 45
    assert [q.seq for q in box.peek(10)] == [seqs[1]] and box.unconfirmed() == (1, 45.0)
    box.close()
    assert [q.seq for q in Outbox(tmp_path / "outbox.db", clock=clock).peek(10)] == [seqs[1]], "kept over a restart"


def test_unconfirmed_messages_are_sent_again_backing_off_alarms_first(tmp_path):
    clock = Clock()
    box = Outbox(tmp_path / "outbox.db", resend_after_s=30, resend_max_s=100, clock=clock)
    seqs = _sequenced(box, 3, alarm_at=2)
    due = lambda: [q.seq for q in box.peek(10)]  # noqa: E731
    assert due() == [seqs[2], seqs[0], seqs[1]]
    box.settle([q.id for q in box.peek(10)])
    for wait, expected in ((29, []), (1, [seqs[2], seqs[0], seqs[1]])):  # first resend after 30 s
        clock.now += wait
        assert due() == expected
    box.settle([q.id for q in box.peek(10)])
    clock.now += 59
    assert due() == [], "the second waits twice as long"
    clock.now += 1
    assert due() == [seqs[2], seqs[0], seqs[1]]
    for _ in range(5):  # and never longer than resend_max_s
        box.settle([q.id for q in box.peek(10)])
        clock.now += 100
        assert len(due()) == 3


def test_messages_without_a_sequence_number_are_settled_by_the_broker(tmp_path):
    box = Outbox(tmp_path / "outbox.db")
    box.put("tec/v1/h/gateway/status", b"hb")
    [only] = box.peek(10)
    box.settle([only.id])
    assert box.depth() == 0
    box.put_sequenced(lambda seq: ("tec/v1/other/d/reading", b"x", False))
    box.settle([], refused=[q.id for q in box.peek(10)])  # not authorised: retrying cannot help
    assert box.depth() == 0


def test_confirmations_flow_through_the_embedded_broker(tmp_path):
    """The one-command default: amqtt in process, ingest confirming, the outbox draining."""
    import json
    import threading
    from datetime import datetime, timedelta, timezone

    import paho.mqtt.client as mqtt

    from tecwatch.broker import EmbeddedBroker
    from tecwatch.devices.payloads import confirm_topic, parse_confirmation
    from tecwatch.gateway.forwarder import Forwarder
    from tecwatch.localservices import free_port
    from tecwatch.services import Ingest
    from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings
    from tecwatch.store.sqlite import SQLiteStore

    from support import wait_until

    port = free_port()
    with EmbeddedBroker("127.0.0.1", port):
        settings = Settings(broker=BrokerSettings(mode="embedded", port=port),
                            registry=RegistrySettings(url=f"sqlite:///{tmp_path}/registry.db"), data_dir=tmp_path,
                            ingest=IngestSettings(client_id="embedded-ingest", batch_max_wait_s=0.05))
        store = SQLiteStore(tmp_path / "readings.db")
        ingest = Ingest(settings, store=store)
        ingest.start()
        box = Outbox(tmp_path / "outbox.db")
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        for i in range(50):
            box.put_sequenced(lambda seq, i=i: (f"tec/v1/home-e/pir-1/reading", json.dumps(
                {"type": "motion", "ts": (start + timedelta(seconds=i)).isoformat(), "seq": seq,
                 "occupancy": True}).encode(), False))
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-embedded", protocol=mqtt.MQTTv311)
        client.username_pw_set("gw-home-e")  # the embedded broker takes any named login
        forwarder = Forwarder(box, client)
        client.on_publish = forwarder.on_publish
        client.on_message = lambda _c, _u, m: forwarder.on_confirm(parse_confirmation(m.payload) or [])
        client.on_connect = lambda c, *_a: (c.subscribe(confirm_topic("home-e"), qos=1), forwarder.notify())
        stop = threading.Event()
        thread = threading.Thread(target=forwarder.run, args=(stop, 0.1), daemon=True)
        try:
            assert ingest.mqtt.subscribed.wait(10)
            client.connect("127.0.0.1", port)
            client.loop_start()
            thread.start()
            wait_until(lambda: box.depth() == 0, 20, "every message confirmed and gone from the outbox")
            assert forwarder.confirmed == 50
            assert len(store.readings("home-e", start - timedelta(seconds=1), start + timedelta(minutes=2))) == 50
        finally:
            stop.set()
            thread.join(5)
            client.disconnect()
            client.loop_stop()
            ingest.stop()
            store.close()
            box.close()
