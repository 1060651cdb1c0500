"""Call quality over a real HTTP server, on SQLite and the real PostgreSQL: the calls each handler
handled in a month (from the alert trail), audits of them, and audits per handler against the
standard of two a month; admins only, every call listed access-logged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.lifecycle import raise_alert
from tecwatch.registry.models import AccessLog, AlertEvent, Outcome

from apisupport import api_server, seed_cast, signed_in

OCTOBER = datetime(2026, 10, 31, 23, 50, tzinfo=UTC)  # ten minutes before November, in UTC
NOVEMBER = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def _raise(engine, home: str, rule: str, at: datetime) -> int:
    with Session(engine) as s, s.begin():
        return raise_alert(s, home_id=home, rule=rule, occurred_at=at, now=at).alert.id


def seed(engine) -> dict[str, int]:
    """October: the operator handles three alerts, the admin notes one of them, a family member
    acknowledges one the operator then resolves, a responder attends one. November: one more."""
    ids = {}
    ids["pendant"] = a = _raise(engine, "home-1", "pendant", OCTOBER)
    service.acknowledge(engine, a, "operator (operator)", at=OCTOBER + M)
    service.note(engine, a, "admin (admin)", "Listened in", at=OCTOBER + 2 * M)
    with Session(engine) as s, s.begin():
        s.add(AlertEvent(alert_id=a, at=OCTOBER + 3 * M, actor="operator (operator)", kind="call",
                         detail={"action": "resident_answered", "responder_id": None}))
        s.add(AlertEvent(alert_id=a, at=OCTOBER + 20 * M, actor="responder (responder)", kind="attend",
                         detail={"step": "arrived", "responder_id": 1}))
    service.resolve(engine, a, "operator (operator)", Outcome.RESPONDER_ATTENDED, at=OCTOBER + 30 * M)
    ids["battery"] = a = _raise(engine, "home-2", "low_battery", OCTOBER)
    service.acknowledge(engine, a, "family-2 (family)", at=OCTOBER + M)
    service.resolve(engine, a, "operator (operator)", Outcome.TECHNICAL_FIXED, at=OCTOBER + 40 * M)
    ids["fall"] = a = _raise(engine, "home-2", "fall_detected", OCTOBER)
    service.acknowledge(engine, a, "operator (operator)", at=OCTOBER + M)
    ids["november"] = a = _raise(engine, "home-1", "pendant", NOVEMBER)
    service.acknowledge(engine, a, "operator (operator)", at=NOVEMBER + M)
    return ids


@pytest.fixture
def site(registry, registry_url, tmp_path) -> Iterator[tuple[str, dict[str, int]]]:
    seed_cast(registry)
    ids = seed(registry)
    with api_server(registry_url, tmp_path) as (url, _):
        yield url, ids


@pytest.fixture
def admin(site) -> Iterator[httpx.Client]:
    with signed_in(site[0], "admin") as client:
        yield client


def audit(alert_id: int, handler: str = "operator", score: int = 4, **overrides) -> dict:
    return {"alert_id": alert_id, "handler": handler, "greeting_identity": True, "correct_action": True,
            "trail_complete": False, "score": score, "note": "Did not record the call to the daughter"} | overrides


def test_calls_handled_per_handler_and_month(site, admin, registry):
    _, ids = site
    summary = admin.get("/api/call-quality", params={"month": "2026-10"}).json()
    assert summary == {"month": "2026-10", "audits_per_handler": 2, "handlers": [
        {"handler": "admin", "handled": 1, "audited": 0, "required": 2, "meets_standard": False},
        {"handler": "operator", "handled": 3, "audited": 0, "required": 2, "meets_standard": False}]}
    calls = admin.get("/api/call-quality/calls", params={"month": "2026-10", "handler": "operator"}).json()
    # The family member's acknowledgement and the responder's arrival are nobody's call handling.
    assert [(c["alert_id"], c["actions"], c["outcome"], c["audit"]) for c in calls] == [
        (ids["pendant"], ["acknowledged", "call", "resolved"], "responder_attended", None),
        (ids["battery"], ["resolved"], "technical_fixed", None),
        (ids["fall"], ["acknowledged"], None, None)]
    november = admin.get("/api/call-quality/calls", params={"month": "2026-11"}).json()
    assert [(c["alert_id"], c["handler"]) for c in november] == [(ids["november"], "operator")]
    assert admin.get("/api/call-quality", params={"month": "2026-13"}).status_code == 422
    with Session(registry) as s:
        logged = s.execute(select(AccessLog.action, AccessLog.alert_id, AccessLog.home_id)
                           .where(AccessLog.username == "admin", AccessLog.action == "list handled calls")).all()
    assert sorted(logged) == sorted([("list handled calls", ids["pendant"], "home-1"),
                                     ("list handled calls", ids["battery"], "home-2"),
                                     ("list handled calls", ids["fall"], "home-2"),
                                     ("list handled calls", ids["november"], "home-1")])


def test_audits_count_towards_the_standard_in_the_month_of_the_call(site, admin):
    _, ids = site
    r = admin.post("/api/call-quality/audits", json=audit(ids["pendant"]))
    assert r.status_code == 201, r.text
    saved = r.json()
    assert (saved["auditor"], saved["handler"], saved["score"], saved["trail_complete"]) == ("admin", "operator", 4, False)
    assert admin.post("/api/call-quality/audits", json=audit(ids["pendant"], score=5)).status_code == 409
    # The same alert's note by the admin is the admin's own call to audit.
    assert admin.post("/api/call-quality/audits", json=audit(ids["pendant"], "admin")).status_code == 201
    refused = admin.post("/api/call-quality/audits", json=audit(ids["battery"], "family-2"))
    assert refused.status_code == 422 and "did not handle" in refused.text
    assert admin.post("/api/call-quality/audits", json=audit(999_999)).status_code == 404
    assert admin.post("/api/call-quality/audits", json=audit(ids["fall"], score=6)).status_code == 422
    handlers = {h["handler"]: h for h in admin.get("/api/call-quality", params={"month": "2026-10"}).json()["handlers"]}
    assert (handlers["operator"]["audited"], handlers["operator"]["meets_standard"]) == (1, False)
    # Audited today, whenever the test runs, it counts for October, when the call was.
    assert admin.post("/api/call-quality/audits", json=audit(ids["fall"], score=2)).status_code == 201
    handlers = {h["handler"]: h for h in admin.get("/api/call-quality", params={"month": "2026-10"}).json()["handlers"]}
    assert (handlers["operator"]["audited"], handlers["operator"]["meets_standard"]) == (2, True)
    assert admin.get("/api/call-quality", params={"month": "2026-11"}).json()["handlers"] == [
        {"handler": "operator", "handled": 1, "audited": 0, "required": 2, "meets_standard": False}]
    calls = admin.get("/api/call-quality/calls", params={"month": "2026-10", "handler": "operator"}).json()
    assert [(c["alert_id"], c["audit"]["score"] if c["audit"] else None) for c in calls] == [
        (ids["pendant"], 4), (ids["battery"], None), (ids["fall"], 2)]


@pytest.mark.parametrize("username", ["operator", "commissioner", "responder", "coordinator", "family-1"])
def test_only_admins_see_or_audit_calls(site, username):
    base_url, ids = site
    with signed_in(base_url, username) as other:
        assert other.get("/api/call-quality", params={"month": "2026-10"}).status_code == 403
        assert other.get("/api/call-quality/calls", params={"month": "2026-10"}).status_code == 403
        assert other.post("/api/call-quality/audits", json=audit(ids["fall"])).status_code == 403
