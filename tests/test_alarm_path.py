"""The alarm path over a real mosquitto, into real stores and a real registry: an alarm is never
dropped for its time, a retained or repeated copy never raises it twice, one home's flood does
not hold up another's alarm, and dead letters are bounded."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import transition
from tecwatch.devices import make_reading
from tecwatch.devices.catalogue import Channel
from tecwatch.ingest.alarms import AlarmHandOff, PendingAlarm
from tecwatch.localservices import Mosquitto
from tecwatch.registry.models import Alert, AlertEvent, AlertState, Outcome
from tecwatch.services import Alerts, Ingest
from tecwatch.settings import BrokerSettings, IngestSettings, RegistrySettings, Settings
from tecwatch.store.sqlite import SQLiteStore

from support import Publisher, wait_until


@pytest.fixture
def platform(tmp_path, registry_url):
    """Mosquitto, and an ingest worker with the real alert engine on a registry of each kind."""
    with Mosquitto(tmp_path / "broker") as broker:
        settings = Settings(
            broker=BrokerSettings(mode="external", host=broker.host, port=broker.port, protocol="5"),
            registry=RegistrySettings(url=registry_url), data_dir=tmp_path / "data",
            ingest=IngestSettings(client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_s=0.05),
        )
        store = SQLiteStore(tmp_path / "readings.db")
        holder = _Platform(broker, settings, store)
        holder.start()
        yield holder
        holder.stop()
        store.close()


class _Platform:
    def __init__(self, broker: Mosquitto, settings: Settings, store: SQLiteStore):
        self.broker, self.settings, self.store = broker, settings, store
        self.ingest: Ingest | None = None
        self.pub = Publisher(broker.host, broker.port)

    def start(self) -> None:
        self.ingest = Ingest(self.settings, store=self.store)
        self.ingest.start()
        assert self.ingest.mqtt.subscribed.wait(10)

    def restart(self) -> None:
        self.ingest.stop()
        self.start()

    def stop(self) -> None:
        self.pub.close()
        self.ingest.stop()

    def alerts(self, **where) -> list[Alert]:
        with Session(self.ingest.engine) as s:
            q = select(Alert).order_by(Alert.id)
            for k, v in where.items():
                q = q.where(getattr(Alert, k) == v)
            return list(s.scalars(q))

    def settled(self) -> bool:
        stats = self.ingest.stats()
        return stats.acked == stats.received


def press(home: str, ts: datetime | str, seq: int = 1, device: str = "pendant-1") -> tuple[str, bytes]:
    when = ts if isinstance(ts, str) else ts.isoformat(timespec="milliseconds")
    return f"tec/v1/{home}/{device}/event", json.dumps({"type": "pendant", "ts": when, "seq": seq,
                                                        "action": "press"}).encode()


def heartbeat(home: str, ts: datetime, seq: int, **values) -> tuple[str, bytes]:
    body = {"type": "gateway", "ts": ts.isoformat(timespec="milliseconds"), "seq": seq, "status": "online"}
    return f"tec/v1/{home}/gateway/status", json.dumps(body | values).encode()


def test_alarms_with_wrong_clocks_are_raised_at_receive_time(platform):
    now = datetime.now(timezone.utc)
    platform.pub.publish([
        press("home-ahead", now + timedelta(minutes=6)),
        press("home-1970", "1970-01-01T00:00:00Z"),
        ("tec/v1/home-ahead/pir-1/reading", json.dumps({"type": "motion", "occupancy": True, "seq": 2,
                                                        "ts": (now + timedelta(minutes=6)).isoformat()}).encode()),
    ])
    wait_until(lambda: len(platform.alerts(rule="pendant")) == 2 and platform.settled(), 10, "both presses raised")
    for alert in platform.alerts(rule="pendant"):
        assert abs(alert.occurred_at - now) < timedelta(seconds=30), "raised at the time it arrived"
        assert alert.detail["clock_skewed"] is True and "clock is wrong" in alert.reason
    ahead = platform.alerts(rule="pendant", home_id="home-ahead")[0]
    assert ahead.detail["device_ts"].startswith((now + timedelta(minutes=6)).isoformat()[:16])
    clocks = {a.home_id: a for a in platform.alerts(rule="hub_clock_wrong")}
    assert set(clocks) == {"home-ahead", "home-1970"}
    assert "6 min ahead" in clocks["home-ahead"].reason and "days behind" in clocks["home-1970"].reason
    # A reading is not an alarm: with a wrong time it is rejected as before.
    assert [d.reason for d in platform.ingest.dead_letters.list()] == ["ts_in_future"]

    # The same press again (redelivered, or sent again by the hub) is not a second alert.
    platform.pub.publish([press("home-ahead", now + timedelta(minutes=6))])
    wait_until(platform.settled, 10, "the copy handled")
    assert [a.repeats for a in platform.alerts(rule="pendant", home_id="home-ahead")] == [0]

    # The hub's time is right again: its next heartbeat resolves the wrong-clock alert; a hub
    # that reports a 15-minute offset itself raises it again.
    platform.pub.publish([heartbeat("home-ahead", datetime.now(timezone.utc), 3, clock_offset_s=0.4)])
    wait_until(lambda: platform.alerts(rule="hub_clock_wrong", home_id="home-ahead")[0].state is AlertState.RESOLVED,
               10, "the wrong clock resolved")
    platform.pub.publish([heartbeat("home-ahead", datetime.now(timezone.utc), 4, clock_offset_s=-900.0)])
    wait_until(lambda: len(platform.alerts(rule="hub_clock_wrong", home_id="home-ahead")) == 2, 10, "raised again")
    assert "15 min behind" in platform.alerts(rule="hub_clock_wrong", home_id="home-ahead")[-1].reason


def test_a_retained_press_raises_one_alert_across_restarts(platform):
    now = datetime.now(timezone.utc)
    topic, payload = press("home-r", now - timedelta(seconds=5))
    platform.pub.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    wait_until(lambda: len(platform.alerts(home_id="home-r")) == 1 and platform.settled(), 10, "the press raised")
    # Handled and closed, so a copy would have nothing open to attach to.
    with Session(platform.ingest.engine) as s, s.begin():
        alert = s.scalars(select(Alert).where(Alert.home_id == "home-r")).one()
        transition(s, alert, AlertState.RESOLVED, actor="operator", at=now, outcome=Outcome.FALSE_ALARM)
    for _ in range(2):
        platform.restart()  # the broker replays the retained press on every subscribe
        wait_until(lambda: platform.ingest.stats().received >= 1 and platform.settled(), 10, "the retained copy")
    assert [(a.state, a.repeats) for a in platform.alerts(home_id="home-r")] == [(AlertState.RESOLVED, 0)]


def test_a_press_retained_before_ingest_ever_subscribed_is_raised_once(tmp_path, registry_url):
    """Published retained while no ingest session existed: the first subscribe is the only time
    it is delivered, so it is raised then, and not again."""
    with Mosquitto(tmp_path / "broker") as broker:
        pub = Publisher(broker.host, broker.port)
        topic, payload = press("home-early", datetime.now(timezone.utc) - timedelta(seconds=30))
        pub.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
        pub.close()
        settings = Settings(broker=BrokerSettings(mode="external", host=broker.host, port=broker.port),
                            registry=RegistrySettings(url=registry_url), data_dir=tmp_path / "data",
                            ingest=IngestSettings(client_id="late-ingest", batch_max_wait_s=0.05))
        store = SQLiteStore(tmp_path / "readings.db")
        platform = _Platform(broker, settings, store)
        try:
            platform.start()
            for _ in range(3):  # delivered at every subscribe, with its retain flag
                wait_until(lambda: platform.ingest.stats().received == 1 and platform.settled(), 10, "the press")
                assert [(a.home_id, a.repeats) for a in platform.alerts(rule="pendant")] == [("home-early", 0)]
                platform.restart()
        finally:
            platform.stop()
            store.close()


def test_one_homes_flood_is_one_alert_and_other_homes_are_still_raised(platform):
    now = datetime.now(timezone.utc)
    flood = [press("home-flood", now - timedelta(seconds=60) + timedelta(milliseconds=i), seq=i) for i in range(3000)]
    platform.pub.publish(flood + [press("home-quiet", now)])
    wait_until(lambda: platform.ingest.stats().received == 3001 and platform.settled(), 60, "the flood handled")
    [flooded] = platform.alerts(home_id="home-flood")
    assert flooded.repeats == 2999
    assert [a.home_id for a in platform.alerts(home_id="home-quiet")] == ["home-quiet"]
    with Session(platform.ingest.engine) as s:
        trail = s.scalars(select(AlertEvent).where(AlertEvent.alert_id == flooded.id)).all()
    assert len(trail) < 100, "a burst of repeats is a few trail events, not one per press"
    assert sum(e.detail.get("times", 1) for e in trail if e.kind == "repeated") == 2999


class RecordingSink:
    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def accept_many(self, alarms):
        self.calls.append((alarms[0].home_id, len(alarms)))


def test_alarms_are_handed_over_home_by_home_the_fewest_first():
    """With a backlog, the home with one alarm waiting goes before the home with thousands, and
    a flooding home is handed over in rounds so others waiting behind it go in between."""
    sink, stopping = RecordingSink(), threading.Event()
    hand_off = AlarmHandOff(sink, IngestSettings(), stopping)
    at = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)

    def alarm(home: str, i: int) -> PendingAlarm:
        return PendingAlarm(make_reading(home_id=home, device_id="pendant-1", device_type="pendant",
                                         channel=Channel.EVENT, ts=at + timedelta(milliseconds=i), seq=i, room=None,
                                         values={"action": "press"}))

    pending = [alarm("home-flood", i) for i in range(1200)] + [alarm("home-quiet", 0)]
    for p in pending:
        hand_off.put(p)
    thread = threading.Thread(target=hand_off.run)
    thread.start()
    try:
        wait_until(lambda: all(p.done.is_set() for p in pending), 10, "every alarm handed over")
    finally:
        stopping.set()
        thread.join(5)
    assert sink.calls[0] == ("home-quiet", 1)
    assert sum(n for home, n in sink.calls if home == "home-flood") == 1200
    assert max(n for _, n in sink.calls) <= 500


def test_dead_letters_keep_a_few_kb_and_are_deleted_after_their_days(platform):
    big = b'{"type": "motion", "blob": "' + b"x" * 100_000 + b'"}'
    platform.pub.publish([("tec/v1/home-big/pir-1/reading", big)])
    wait_until(lambda: platform.ingest.dead_letters.count_by_reason() == {"oversize": 1}, 10, "dead-lettered")
    [letter] = platform.ingest.dead_letters.list()
    assert letter.payload == big[:4096] and letter.payload_length == len(big)
    alerts = Alerts(platform.settings, store=platform.store, registry=platform.ingest.engine)
    try:
        alerts.retention(now=datetime.now(timezone.utc) + timedelta(days=29))
        assert platform.ingest.dead_letters.count_by_reason() == {"oversize": 1}, "kept for 30 days"
        alerts.retention(now=datetime.now(timezone.utc) + timedelta(days=31))
        assert platform.ingest.dead_letters.count_by_reason() == {}
    finally:
        alerts.stop()
