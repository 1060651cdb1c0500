"""End to end: a pendant press published to a real mosquitto becomes a stored alert and a
signed webhook delivery; prints the press-to-webhook latency."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tecwatch.db import make_engine
from tecwatch.services import Ingest
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.localservices import Mosquitto
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import Alert, AlertState, ContactRoute, EscalationChain, EscalationStep, Responder, ResponderKind
from tecwatch.settings import AlertSettings, BrokerSettings, IngestSettings, RegistrySettings, Settings

from receivers import WebhookReceiver
from support import Publisher, wait_until

PRESSES = 40


def test_pendant_press_to_webhook(tmp_path, registry_url):
    webhook = WebhookReceiver()
    arrived: dict[str, float] = {}
    webhook.on_receive = lambda d: arrived.setdefault(json.loads(d.body)["home_id"], time.monotonic())
    engine = make_engine(registry_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        desk = Responder(name="Monitoring centre", kind=ResponderKind.OPERATOR)
        s.add(desk)
        s.flush()
        s.add(ContactRoute(responder_id=desk.id, kind="webhook", target=webhook.url))
        chain = EscalationChain(home_id=None, name="county default")
        s.add(chain)
        s.flush()
        s.add(EscalationStep(chain_id=chain.id, position=1, responder_id=desk.id, wait_minutes=3))
    with Mosquitto(tmp_path / "broker") as broker:
        settings = Settings(
            broker=BrokerSettings(mode="external", host=broker.host, port=broker.port),
            registry=RegistrySettings(url=registry_url),
            ingest=IngestSettings(client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_s=0.05),
            alerts=AlertSettings(webhook_secret="e2e-secret"),
        )
        store = SQLiteStore(tmp_path / "readings.db")
        worker = Ingest(settings, store=store)
        worker.start()
        assert worker.mqtt.subscribed.wait(10)
        pub = Publisher(broker.host, broker.port, "3.1.1")
        published: dict[str, float] = {}
        try:
            for i in range(PRESSES):
                home = f"home-{i}"
                ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
                body = {"type": "pendant", "ts": ts, "seq": 1, "room": "lounge", "action": "press"}
                published[home] = time.monotonic()
                pub.publish([(f"tec/v1/{home}/pendant-1/event", json.dumps(body).encode())])
                time.sleep(0.05)
            wait_until(lambda: len(arrived) == PRESSES, 30, f"{PRESSES} webhook deliveries")
        finally:
            pub.close()
            worker.stop()
            store.close()
            webhook.close()
    latencies = sorted((arrived[h] - published[h]) * 1000 for h in published)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
    print(f"\npendant press -> stored alert -> webhook ({registry_url.split(':')[0]}): "
          f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms over {PRESSES} presses")
    hook = webhook.received[0]
    assert verify(b"e2e-secret", hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER])
    with Session(engine) as s:
        alerts = s.scalars(select(Alert)).all()
        assert len(alerts) == PRESSES and {a.state for a in alerts} == {AlertState.RAISED}
        assert all(a.escalation_step == 1 and a.next_escalation_at is not None for a in alerts)
    engine.dispose()
    assert p99 < 5000, f"p99 {p99:.0f} ms"
