"""A responder's attendance over the API (a real HTTP server, SQLite and PostgreSQL): only the
responder the call log sent (or monitoring-centre staff for them) marks "on my way", "arrived"
and "left"; each mark is in the alert's trail with the server's time; refusals are logged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.api import access
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import AccessLog, AlertEvent, Home, Responder, ResponderKind, UserRole

from apisupport import PASSWORD, api_server, seed_cast, signed_in

T0 = datetime(2026, 3, 29, 0, 50, tzinfo=timezone.utc)  # the night the clocks change


def add_responder(engine, name: str, username: str) -> int:
    """A mobile responder with an account linked to their record."""
    with Session(engine) as s, s.begin():
        r = Responder(name=name, kind=ResponderKind.MOBILE)
        s.add(r)
        s.flush()
        access.create_user(s, username, PASSWORD, UserRole.RESPONDER, responder_id=r.id)
        return r.id


def call(engine, alert_id: int, action: str, responder_id: int | None, at: datetime) -> None:
    """What the operator's call log writes."""
    with Session(engine) as s, s.begin():
        s.add(AlertEvent(alert_id=alert_id, at=at, actor="operator (operator)", kind="call",
                         detail={"action": action, "responder_id": responder_id}))


@pytest.fixture
def site(registry_url, tmp_path):
    engine = make_engine(registry_url)
    upgrade(engine)
    seed_cast(engine)
    with Session(engine) as s, s.begin():
        s.get(Home, "home-1").postcode = "NR1 3AB"
    sam = add_responder(engine, "Sam Mobile", "sam")
    kim = add_responder(engine, "Kim Mobile", "kim")
    [pendant, battery] = AlertEngine(engine, clock=lambda: T0).raise_hits([
        RuleHit("home-1", "pendant", T0, "Pendant pressed in the lounge", {}, "pendant-1"),
        RuleHit("home-2", "low_battery", T0, "Battery low", {}, "door-front")])
    call(engine, pendant, "resident_no_answer", None, T0 + timedelta(seconds=40))
    call(engine, pendant, "responder_unavailable", kim, T0 + timedelta(seconds=70))  # Kim could not go
    call(engine, pendant, "mobile_sent", sam, T0 + timedelta(seconds=90))
    clock = [T0 + timedelta(minutes=2)]
    with api_server(registry_url, tmp_path, clock=lambda: clock[0]) as (base_url, _):
        yield base_url, engine, clock, {"pendant": pendant, "battery": battery, "sam": sam, "kim": kim}
    engine.dispose()


def test_the_assigned_responder_marks_attendance_into_the_trail(site):
    base_url, engine, clock, ids = site
    alert = ids["pendant"]
    with signed_in(base_url, "sam") as sam:
        [mine] = sam.get("/api/me/assignments").json()
        assert (mine["alert_id"], mine["title"], mine["address"], mine["postcode"]) == (
            alert, "Pendant alarm pressed", "1 Arthur Lane", "NR1 3AB")
        assert mine["maps_url"] == "https://www.google.com/maps/search/?api=1&query=1+Arthur+Lane%2C+NR1+3AB"
        assert mine["residents"] == ["Arthur Example"] and mine["next_steps"] == ["on_my_way", "arrived"]

        times = {}
        for step, minutes in (("on_my_way", 3), ("arrived", 21), ("left", 64)):
            clock[0] = T0 + timedelta(minutes=minutes)
            r = sam.post(f"/api/alerts/{alert}/attendance", json={"step": step})
            assert r.status_code == 200, r.text
            assert r.json()["marked"]["step"] == step and r.json()["marked"]["responder_id"] == ids["sam"]
            times[step] = clock[0]
        assert [(m["step"], m["at"]) for m in r.json()["marks"]] == [
            (s, t.isoformat().replace("+00:00", "Z")) for s, t in times.items()]

        again = sam.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived"})
        assert again.status_code == 409 and "already marked" in again.json()["detail"]
        assert sam.post(f"/api/alerts/{alert}/attendance", json={"step": "home"}).status_code == 422
        assert sam.get("/api/me/assignments").json() == [], "left: off the list"

    with signed_in(base_url, "operator") as operator:
        trail = [e for e in operator.get(f"/api/alerts/{alert}").json()["events"] if e["kind"] == "attend"]
    assert [(e["detail"], e["actor"], e["note"], datetime.fromisoformat(e["at"])) for e in trail] == [
        ({"step": s, "responder_id": ids["sam"]}, "sam (responder)", label, times[s])
        for s, label in (("on_my_way", "On my way"), ("arrived", "Arrived"), ("left", "Left"))]


def test_only_the_assigned_responder_or_the_centre_may_mark(site):
    base_url, engine, clock, ids = site
    alert = ids["pendant"]
    with signed_in(base_url, "kim") as kim:
        assert kim.get("/api/me/assignments").json() == [], "unavailable is not assigned"
        r = kim.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived"})
        assert r.status_code == 403 and "not assigned" in r.json()["detail"]
        r = kim.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived", "responder_id": ids["sam"]})
        assert r.status_code == 403, "a responder marks their own attendance only"
        assert kim.post(f"/api/alerts/{ids['battery']}/attendance", json={"step": "arrived"}).status_code == 403
    with signed_in(base_url, "responder") as unlinked:
        r = unlinked.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived"})
        assert r.status_code == 403 and "not linked" in r.json()["detail"]
        assert unlinked.get("/api/me/assignments").status_code == 403
    with signed_in(base_url, "family-1") as family:
        assert family.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived"}).status_code == 403
    with signed_in(base_url, "sam") as sam:
        assert sam.post("/api/alerts/999/attendance", json={"step": "arrived"}).status_code == 404
        r = sam.post(f"/api/alerts/{alert}/attendance", json={"step": "left"})
        assert r.status_code == 409 and "mark Arrived first" in r.json()["detail"]
    # The centre marks for Sam, who phoned in: the one assigned, unless it names another.
    with signed_in(base_url, "operator") as operator:
        r = operator.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived"})
        assert r.status_code == 200 and r.json()["marked"]["responder_id"] == ids["sam"]
        assert r.json()["marked"]["actor"] == "operator (operator)"
        r = operator.post(f"/api/alerts/{alert}/attendance", json={"step": "arrived", "responder_id": ids["kim"]})
        assert r.status_code == 403
        r = operator.post(f"/api/alerts/{ids['battery']}/attendance", json={"step": "arrived"})
        assert r.status_code == 409 and "none is assigned" in r.json()["detail"]

    with Session(engine) as s:
        denied = s.execute(select(AccessLog.username, AccessLog.action, AccessLog.alert_id)
                           .where(AccessLog.outcome == "denied").order_by(AccessLog.id)).all()
        marked = s.execute(select(AccessLog.username, AccessLog.home_id).where(
            AccessLog.outcome == "allowed", AccessLog.action == "mark arrived at alert")).all()
    assert denied == [("kim", "mark arrived at alert", alert), ("kim", "mark arrived at alert", alert),
                      ("kim", "mark arrived at alert", ids["battery"]),
                      ("responder", "mark arrived at alert", alert), ("responder", "GET /api/me/assignments", None),
                      ("family-1", "POST /api/alerts/{alert_id}/attendance", alert),
                      ("sam", "mark arrived at alert", 999),
                      ("operator", "mark arrived at alert", alert)]
    assert marked == [("operator", "home-1")]

    # Resolved while Sam is still there: it stays on Sam's list until Sam has left.
    with signed_in(base_url, "operator") as operator:
        assert operator.post(f"/api/alerts/{alert}/resolve", json={"outcome": "responder_attended"}).status_code == 200
    with signed_in(base_url, "sam") as sam:
        [still] = sam.get("/api/me/assignments").json()
        assert (still["state"], still["next_steps"]) == ("resolved", ["left"])
        assert sam.post(f"/api/alerts/{alert}/attendance", json={"step": "left"}).status_code == 200
        assert sam.get("/api/me/assignments").json() == []


def test_an_admin_links_an_account_to_a_responder_record(site):
    base_url, engine, clock, ids = site
    with signed_in(base_url, "admin") as admin:
        r = admin.post("/api/admin/users/responder/responder", json={"responder_id": ids["sam"]})
        assert r.status_code == 200 and (r.json()["responder"], r.json()["residents"]) == ("Sam Mobile", [])
        family = admin.post("/api/admin/users/family-1/responder", json={"responder_id": None})
        assert family.status_code == 422 and "must be linked" in family.json()["detail"]
        assert admin.post("/api/admin/users/responder/responder", json={"responder_id": 9999}).status_code == 422
        assert admin.post("/api/admin/users/nobody/responder", json={"responder_id": ids["sam"]}).status_code == 404
    with signed_in(base_url, "operator") as operator:
        assert operator.post("/api/admin/users/operator/responder", json={"responder_id": ids["sam"]}).status_code == 403
    with signed_in(base_url, "responder") as now_sam:  # the link holds from the next request
        assert [a["alert_id"] for a in now_sam.get("/api/me/assignments").json()] == [ids["pendant"]]
