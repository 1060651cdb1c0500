"""Alarms become persisted alerts, then escalate to real receivers (webhook, SMTP) on loopback;
failures are retried and visible; acknowledgement stops the walk. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.escalation import Dispatcher, DispatchStats, choose_chain
from tecwatch.alerts.lifecycle import transition
from tecwatch.alerts.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, DefaultSender, verify
from tecwatch.devices import Channel, make_reading
from tecwatch.registry.models import (
    Alert, AlertState, ContactRoute, EscalationChain, EscalationStep, Home, Notification, NotificationStatus,
    Responder, ResponderKind,
)
from tecwatch.settings import AlertSettings

from receivers import SmtpReceiver, WebhookReceiver

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # 10:00 in London (GMT in November)
SECRET = b"test-secret"


class Clock:
    """The dispatcher's notion of now, moved by the test (escalation waits are minutes)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pendant(home_id: str = "home-1", action: str = "press", at: datetime = T0):
    return make_reading(home_id=home_id, device_id="pendant-1", device_type="pendant", channel=Channel.EVENT,
                        ts=at, seq=1, room="lounge", values={"action": action})


@pytest.fixture
def webhook():
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp():
    r = SmtpReceiver()
    yield r
    r.close()


def setup_home(engine, webhook_url: str, email_url: str) -> None:
    """home-1: family by day (webhook, 10 min), then the monitoring centre (email); at night
    straight to the monitoring centre."""
    with Session(engine) as s, s.begin():
        s.add(Home(id="home-1", created_at=T0))
        jo = Responder(name="Jo (daughter)", kind=ResponderKind.FAMILY)
        desk = Responder(name="Monitoring centre", kind=ResponderKind.OPERATOR)
        s.add_all([jo, desk])
        s.flush()
        s.add_all([ContactRoute(responder_id=jo.id, kind="webhook", target=webhook_url),
                   ContactRoute(responder_id=desk.id, kind="apprise", target=email_url)])
        day = EscalationChain(home_id="home-1", name="day", active_from=time(8), active_until=time(22))
        night = EscalationChain(home_id="home-1", name="night", active_from=time(22), active_until=time(8))
        s.add_all([day, night])
        s.flush()
        s.add_all([EscalationStep(chain_id=day.id, position=1, responder_id=jo.id, wait_minutes=10),
                   EscalationStep(chain_id=day.id, position=2, responder_id=desk.id, wait_minutes=5),
                   EscalationStep(chain_id=night.id, position=1, responder_id=desk.id, wait_minutes=5)])


def build(registry, clock, **settings):
    cfg = AlertSettings(notify_backoff_min_s=30, **settings)
    sender = DefaultSender(SECRET, timeout_s=5)
    dispatcher = Dispatcher(registry, cfg, sender, clock=clock)
    return AlertEngine(registry, kick=dispatcher.kick, clock=clock), dispatcher, sender


def events(engine, alert_id: int) -> list[str]:
    with Session(engine) as s:
        return [e.kind for e in s.get(Alert, alert_id).events]


def test_pendant_alert_is_stored_before_the_family_hears_then_escalates(registry, webhook, smtp):
    clock = Clock(T0)
    setup_home(registry, webhook.url, smtp.url("desk@council.example"))
    seen_in_db: list[bool] = []

    def check_persisted(_delivery) -> None:
        with Session(registry) as s:
            seen_in_db.append(s.scalars(select(Alert)).first() is not None)

    webhook.on_receive = check_persisted
    alerts, dispatcher, sender = build(registry, clock)
    try:
        alerts.accept(pendant())
        alerts.accept(pendant(at=T0 + timedelta(seconds=20)))  # pressed again: a repeat, not a new alert
        stats = dispatcher.run_once()
        assert (stats.escalated, stats.sent) == (1, 1)
        assert seen_in_db == [True]
        [hook] = webhook.received
        body = hook.json()
        assert body["rule"] == "pendant" and body["priority"] == 1 and body["home_id"] == "home-1"
        assert body["reason"] == "Pendant pressed in the lounge (pendant-1)"
        assert body["acknowledge_url"].startswith(f"http://127.0.0.1:8080/ack/{body['alert_id']}?token=")
        assert verify(SECRET, hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER])
        assert not verify(b"wrong", hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER])
        assert smtp.messages == []

        clock.now = T0 + timedelta(minutes=9)
        assert dispatcher.run_once().escalated == 0  # the family has ten minutes
        clock.now = T0 + timedelta(minutes=10, seconds=1)
        assert dispatcher.run_once().sent == 1
        [mail] = smtp.messages
        assert "pendant" in mail["Subject"] and mail["To"] == "desk@council.example"
        text = "".join(part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart())
        assert "/ack/" in text and "?token=" in text

        with Session(registry) as s, s.begin():
            alert = s.scalars(select(Alert)).one()
            alert_id = alert.id
            assert alert.repeats == 1
            transition(s, alert, AlertState.ACKNOWLEDGED, actor="operator Sam", at=clock.now)
        clock.now = T0 + timedelta(hours=1)
        assert dispatcher.run_once().escalated == 0, "acknowledged: the walk stops"
        assert events(registry, alert_id) == ["raised", "repeated", "escalated", "notified", "escalated",
                                              "notified", "acknowledged"]
    finally:
        sender.close()


def test_a_failing_route_is_retried_with_backoff_and_shows_on_the_alert(registry, webhook, smtp):
    clock = Clock(T0)
    setup_home(registry, webhook.url, smtp.url("desk@council.example"))
    webhook.statuses = [500, 503]
    alerts, dispatcher, sender = build(registry, clock)
    try:
        [alert_id] = alerts.raise_hits(
            [RuleHit("home-1", "flood", T0, "Water leak detected in the kitchen (leak-1)", {}, "leak-1")])
        assert dispatcher.run_once().failed_attempts == 1
        with Session(registry) as s:
            n = s.scalars(select(Notification)).one()
            assert (n.status, n.attempts, n.next_attempt_at) == (NotificationStatus.PENDING, 1,
                                                                 T0 + timedelta(seconds=30))
            assert "HTTP 500" in n.last_error
        clock.now = T0 + timedelta(seconds=31)
        assert dispatcher.run_once().failed_attempts == 1  # 503; next wait doubles
        with Session(registry) as s:
            assert s.scalars(select(Notification)).one().next_attempt_at == clock.now + timedelta(seconds=60)
        clock.now += timedelta(seconds=61)
        assert dispatcher.run_once().sent == 1
        assert len(webhook.received) == 1
        assert events(registry, alert_id) == ["raised", "escalated", "notify_failed", "notify_failed", "notified"]
    finally:
        sender.close()


def test_after_the_last_attempt_it_is_marked_failed(registry, smtp):
    clock = Clock(T0)
    setup_home(registry, "http://127.0.0.1:1/nobody-listens", smtp.url("desk@council.example"))
    alerts, dispatcher, sender = build(registry, clock, notify_max_attempts=2)
    try:
        alerts.accept(pendant())
        dispatcher.run_once()
        clock.now += timedelta(minutes=1)
        dispatcher.run_once()
        with Session(registry) as s:
            n = s.scalars(select(Notification)).one()
            assert n.status is NotificationStatus.FAILED and n.attempts == 2
            assert "ConnectError" in n.last_error
    finally:
        sender.close()


def test_cancel_at_the_device_closes_the_alert_and_calls_off_notifications(registry, webhook, smtp):
    clock = Clock(T0)
    setup_home(registry, webhook.url, smtp.url("desk@council.example"))
    alerts, dispatcher, sender = build(registry, clock)
    try:
        alerts.accept(pendant())
        dispatcher.escalate_due(DispatchStats())  # queued, not yet sent
        alerts.accept(pendant(action="cancel", at=T0 + timedelta(seconds=5)))
        dispatcher.run_once()
        assert webhook.received == []
        with Session(registry) as s:
            alert = s.scalars(select(Alert)).one()
            assert alert.state is AlertState.CANCELLED
            assert s.scalars(select(Notification)).one().status is NotificationStatus.CANCELLED
        assert events(registry, alert.id) == ["raised", "escalated", "cancelled"]
    finally:
        sender.close()


@pytest.mark.parametrize("hour, chain", [(9, "day"), (21, "day"), (22, "night"), (3, "night"), (7, "night")])
def test_time_of_day_chain(registry, hour, chain):
    setup_home(registry, "http://127.0.0.1:1/x", "mailto://127.0.0.1:1?to=x@example.org&mode=insecure")
    with Session(registry) as s:
        assert choose_chain(s, "home-1", T0.replace(hour=hour), "Europe/London").name == chain
        assert choose_chain(s, "home-unknown", T0, "Europe/London") is None
        s.add(EscalationChain(home_id=None, name="county default"))
        s.flush()
        assert choose_chain(s, "home-unknown", T0, "Europe/London").name == "county default"


def test_no_chain_is_loud_and_on_the_alert(registry, caplog):
    clock = Clock(T0)
    alerts, dispatcher, sender = build(registry, clock)
    try:
        alerts.accept(pendant(home_id="home-without-chain"))
        dispatcher.run_once()
        with Session(registry) as s:
            alert = s.scalars(select(Alert)).one()
        assert events(registry, alert.id) == ["raised", "no_escalation_chain"]
        assert "no escalation chain" in caplog.text
    finally:
        sender.close()


def gateway_status(status: str, at: datetime, home_id: str = "home-1"):
    return make_reading(home_id=home_id, device_id="gateway", device_type="gateway", channel=Channel.STATUS,
                        ts=at, seq=None, room=None, values={"status": status})


def test_the_hubs_last_will_raises_hub_offline_and_its_return_resolves_it(registry):
    clock = Clock(T0)
    alerts, _dispatcher, sender = build(registry, clock)
    try:
        alerts.accept(gateway_status("online", T0))  # a heartbeat with nothing open: nothing happens
        alerts.accept(gateway_status("offline", T0 + timedelta(minutes=1)))
        clock.now = T0 + timedelta(minutes=20)
        alerts.accept(gateway_status("online", T0 + timedelta(minutes=20)))
        with Session(registry) as s:
            [alert] = s.scalars(select(Alert)).all()
            assert (alert.rule, alert.priority, alert.state) == ("hub_offline", 3, AlertState.RESOLVED)
            assert alert.outcome.value == "technical_fixed" and alert.events[-1].actor == "gateway"
    finally:
        sender.close()


def test_low_battery_raises_one_alert_per_home(registry):
    clock = Clock(T0)
    alerts, _dispatcher, sender = build(registry, clock)
    try:
        for n, values in enumerate(({"occupancy": True, "battery": 40.0}, {"occupancy": False, "battery": 12.0},
                                    {"occupancy": True, "battery_low": True})):
            alerts.accept(make_reading(home_id="home-1", device_id="pir-hall", device_type="motion",
                                       channel=Channel.READING, ts=T0 + timedelta(hours=n), seq=n, room="hall",
                                       values=values))
        with Session(registry) as s:
            [alert] = s.scalars(select(Alert)).all()
            assert alert.rule == "low_battery" and alert.repeats == 1 and alert.device_id == "pir-hall"
            assert alert.reason == "Battery low on motion pir-hall (12%): change it soon"
    finally:
        sender.close()


def test_health_pass_finds_silent_hubs_and_devices():
    from tecwatch.alerts.health import health_hits
    from tecwatch.store.base import DeviceLastSeen

    now = T0
    seen = [
        DeviceLastSeen("home-1", "gateway", "gateway", now - timedelta(minutes=2)),
        DeviceLastSeen("home-1", "pir-hall", "motion", now - timedelta(hours=10)),  # motion: 6 h x 1.5 = 9 h
        DeviceLastSeen("home-1", "pendant-1", "pendant", now - timedelta(hours=30)),  # 24 h x 1.5 = 36 h
        DeviceLastSeen("home-2", "gateway", "gateway", now - timedelta(minutes=30)),  # hub gone
        DeviceLastSeen("home-2", "pir-hall", "motion", now - timedelta(hours=10)),  # explained by the hub
    ]
    installed = [("home-1", "door-front", "door", now - timedelta(days=3))]  # never reported
    hits, offline = health_hits(seen, installed, now, AlertSettings())
    assert offline == {"home-2"}
    by_home = {(h.home_id, h.rule): h for h in hits}
    assert set(by_home) == {("home-1", "device_silent"), ("home-2", "hub_offline")}
    silent = by_home[("home-1", "device_silent")]
    assert [d["device_id"] for d in silent.detail["devices"]] == ["door-front", "pir-hall"]
    assert "No heartbeat from the home hub for 30 min" in by_home[("home-2", "hub_offline")].reason
