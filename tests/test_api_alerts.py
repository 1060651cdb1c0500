"""The alert API over a real HTTP server (uvicorn on loopback): the queue, acknowledging and
resolving, and clear errors."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.api.app import create_app
from tecwatch.db import make_engine
from tecwatch.localservices import free_port
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import RegistrySettings, Settings

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def api(registry_url):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(registry=RegistrySettings(url=registry_url))),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    engine = make_engine(registry_url)
    upgrade(engine)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client, AlertEngine(engine, clock=lambda: T0)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def test_queue_acknowledge_resolve(api):
    client, alerts = api
    alerts.raise_hits([
        RuleHit("home-2", "low_battery", T0, "Battery low on door door-front (9%)", {}, "door-front"),
        RuleHit("home-1", "fall_detected", T0 + timedelta(minutes=1), "Fall detected in the lounge (fall-1)", {},
                "fall-1"),
    ])
    queue = client.get("/api/alerts").json()
    assert [(a["home_id"], a["rule"], a["priority"]) for a in queue] == [("home-1", "fall_detected", 1),
                                                                          ("home-2", "low_battery", 4)]
    fall = queue[0]["id"]
    r = client.post(f"/api/alerts/{fall}/acknowledge", json={"actor": "operator Sam", "note": "calling now"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "operator Sam"
    again = client.post(f"/api/alerts/{fall}/acknowledge", json={"actor": "operator Kim"})
    assert again.status_code == 409 and "cannot become acknowledged" in again.json()["detail"]
    bad = client.post(f"/api/alerts/{fall}/resolve", json={"actor": "operator Sam", "outcome": "sorted"})
    assert bad.status_code == 422
    done = client.post(f"/api/alerts/{fall}/resolve", json={"actor": "operator Sam", "outcome": "ambulance_called",
                                                            "note": "paramedics on scene"})
    assert done.status_code == 200 and done.json()["outcome"] == "ambulance_called"
    detail = client.get(f"/api/alerts/{fall}").json()
    assert [e["kind"] for e in detail["events"]] == ["raised", "acknowledged", "resolved"]
    assert [a["rule"] for a in client.get("/api/alerts").json()] == ["low_battery"]
    assert len(client.get("/api/alerts", params={"open_only": False}).json()) == 2
    assert client.get("/api/alerts/999").status_code == 404
    assert client.post("/api/alerts/999/acknowledge", json={"actor": "x"}).status_code == 404
    assert client.post(f"/api/alerts/{fall}/acknowledge", json={"actor": ""}).status_code == 422


def test_acknowledge_link_from_a_notification(api, registry_url):
    from sqlalchemy.orm import Session

    from tecwatch.alerts.acklink import make_token
    from tecwatch.registry.models import Responder, ResponderKind

    client, alerts = api
    [alert_id] = alerts.raise_hits([RuleHit("home-1", "pendant", T0, "Pendant pressed", {}, "pendant-1")])
    engine = make_engine(registry_url)
    with Session(engine) as s, s.begin():
        jo = Responder(name="Jo (daughter)", kind=ResponderKind.FAMILY)
        s.add(jo)
        s.flush()
        jo_id = jo.id
    engine.dispose()
    secret = Settings().alerts.webhook_secret.get_secret_value().encode()
    now = datetime.now(timezone.utc)
    token = make_token(secret, alert_id, jo_id, now)
    url = f"/api/alerts/{alert_id}/acknowledge-by-link"

    page = client.get(url, params={"token": token})
    assert page.status_code == 200 and "<form method=post" in page.text
    assert client.get(f"/api/alerts/{alert_id}").json()["state"] == "raised", "a GET changes nothing"
    assert client.post(url, params={"token": token[:-1] + "0"}).status_code == 403
    assert client.post(f"/api/alerts/{alert_id + 1}/acknowledge-by-link", params={"token": token}).status_code == 403
    old = make_token(secret, alert_id, jo_id, now - timedelta(days=2))
    expired = client.post(url, params={"token": old})
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    done = client.post(url, params={"token": token})
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "Jo (daughter) (acknowledge link)"
