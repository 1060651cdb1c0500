"""The alert API over a real HTTP server (uvicorn on loopback): the queue, acknowledging and
resolving, and clear errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade

from apisupport import api_server, notified_responder, seed_cast, signed_in

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def api(registry_url, tmp_path):
    engine = make_engine(registry_url)
    upgrade(engine)
    seed_cast(engine)
    with api_server(registry_url, tmp_path) as (base_url, settings), signed_in(base_url, "operator") as client:
        yield client, AlertEngine(engine, clock=lambda: T0), settings
    engine.dispose()


def test_queue_acknowledge_resolve(api):
    client, alerts, _settings = api
    alerts.raise_hits([
        RuleHit("home-2", "low_battery", T0, "Battery low on door door-front (9%)", {}, "door-front"),
        RuleHit("home-1", "fall_detected", T0 + timedelta(minutes=1), "Fall detected in the lounge (fall-1)", {},
                "fall-1"),
    ])
    queue = client.get("/api/alerts").json()
    assert queue["total"] == 2 and (queue["limit"], queue["offset"]) == (100, 0)
    assert [(a["home_id"], a["rule"], a["priority"]) for a in queue["items"]] == [("home-1", "fall_detected", 1),
                                                                                   ("home-2", "low_battery", 4)]
    assert [a["rule"] for a in client.get("/api/alerts", params={"limit": 1, "offset": 1}).json()["items"]] == ["low_battery"]
    fall = queue["items"][0]["id"]
    r = client.post(f"/api/alerts/{fall}/acknowledge", json={"note": "calling now"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "operator (operator)", "the actor is who signed in, not what the body says"
    assert r.json()["seconds_to_acknowledge"] > 0
    again = client.post(f"/api/alerts/{fall}/acknowledge", json={})
    assert again.status_code == 409 and "cannot become acknowledged" in again.json()["detail"]
    assert client.post(f"/api/alerts/{fall}/notes", json={"text": "daughter on her way"}).status_code == 200
    bad = client.post(f"/api/alerts/{fall}/resolve", json={"outcome": "sorted"})
    assert bad.status_code == 422
    done = client.post(f"/api/alerts/{fall}/resolve", json={"outcome": "ambulance_called", "note": "paramedics on scene"})
    assert done.status_code == 200 and done.json()["outcome"] == "ambulance_called"
    detail = client.get(f"/api/alerts/{fall}").json()
    assert [e["kind"] for e in detail["events"]] == ["raised", "acknowledged", "note", "resolved"]
    assert detail["events"][2]["note"] == "daughter on her way"
    assert [a["rule"] for a in client.get("/api/alerts").json()["items"]] == ["low_battery"]
    assert client.get("/api/alerts", params={"open_only": False}).json()["total"] == 2
    assert client.get("/api/alerts/999").status_code == 404
    assert client.post("/api/alerts/999/acknowledge", json={}).status_code == 404
    assert client.post(f"/api/alerts/{fall}/notes", json={"text": ""}).status_code == 422
    assert client.get("/api/alerts", params={"limit": 0}).status_code == 422


def test_acknowledge_link_from_a_notification(api, registry_url):
    from tecwatch.alerts.acklink import make_token

    client, alerts, settings = api
    [alert_id] = alerts.raise_hits([RuleHit("home-1", "pendant", T0, "Pendant pressed", {}, "pendant-1")])
    engine = make_engine(registry_url)
    now = datetime.now(timezone.utc)
    jo_id = notified_responder(engine, alert_id, "Jo (daughter)", now)
    engine.dispose()
    secret = settings.alerts.ack_link_key
    token = make_token(secret, alert_id, jo_id, now)
    url = f"/api/alerts/{alert_id}/acknowledge-by-link"

    page = client.get(f"/ack/{alert_id}", params={"token": token})  # where the notification's link lands
    assert page.status_code == 200 and '<form method="post" action="/ack/' in page.text
    assert client.get(f"/api/alerts/{alert_id}").json()["state"] == "raised", "a GET changes nothing"
    tampered = token[:-1] + ("1" if token.endswith("0") else "0")
    assert client.post(url, json={"token": tampered}).status_code == 403
    assert client.post(f"/api/alerts/{alert_id + 1}/acknowledge-by-link", json={"token": token}).status_code == 403
    old = make_token(secret, alert_id, jo_id, now - timedelta(days=2))
    expired = client.post(url, json={"token": old})
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    done = client.post(url, json={"token": token})
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "Jo (daughter) (acknowledge link)"
