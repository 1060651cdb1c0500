"""Who may do what: every API endpoint against every role, over a real HTTP server.

The matrix lists every route the app has, so a new endpoint without an entry here fails."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.api import access
from tecwatch.api.app import create_app
from tecwatch.db import make_engine
from tecwatch.registry import chains, consent, contacts, devices
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import AccessLog, User
from tecwatch.settings import Settings

from apisupport import PASSWORD, api_server, seed_cast, signed_in

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
ROLES = ("operator", "responder", "admin", "commissioner", "family-1", "family-2", "coordinator")
STAFF = {"operator", "responder", "admin", "coordinator"}
PEOPLE = STAFF | {"family-1"}  # family-1 is Arthur's (home-1); family-2 is Beryl's, not Arthur's
REPORTS = {"commissioner", "admin"}
CENTRE = {"operator", "admin"}  # the monitoring centre's lists of alerts, not a responder's
EDITORS = {"coordinator", "admin"}  # enrol and change the registry's records
# Times in bodies: before the server's clock (the wall clock here) whenever the test runs.
YESTERDAY = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
TODAY = datetime.now(timezone.utc).date().isoformat()
PUBLIC = {"/healthz", "/api/auth/token", "/api/alerts/{alert_id}/acknowledge-by-link",
          "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}

# (method, path) -> (who may, JSON body). Paths name home-1 and Arthur's alert there.
MATRIX: dict[tuple[str, str], tuple[set[str], dict | str | None]] = {
    ("GET", "/api/me"): (set(ROLES), None),
    ("GET", "/api/alerts"): (PEOPLE | {"family-2"}, None),  # family-2 gets only Beryl's (none)
    ("GET", "/api/alerts/stream"): (PEOPLE | {"family-2"}, None),
    ("GET", "/api/alerts/slow-acknowledgements"): (CENTRE, None),
    ("GET", "/api/alerts/{alert_id}"): (PEOPLE, None),
    ("POST", "/api/alerts/{alert_id}/notes"): (STAFF, {"text": "called the key holder"}),
    ("POST", "/api/alerts/{alert_id}/calls"): (STAFF, {"action": "spoke_through_unit"}),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): (PEOPLE, {}),
    ("POST", "/api/alerts/{alert_id}/resolve"): (STAFF, {"outcome": "false_alarm"}),
    # Nobody is assigned to Arthur's alert: the centre is told so (409); the cast's responder
    # account is linked to no responder record, so it is refused, as is anyone else.
    ("POST", "/api/alerts/{alert_id}/attendance"): (STAFF - {"responder"}, {"step": "arrived"}),
    ("GET", "/api/me/assignments"): (set(), None),
    ("GET", "/api/homes"): (PEOPLE | {"family-2"}, None),
    ("GET", "/api/homes/{home_id}"): (PEOPLE, None),
    ("GET", "/api/homes/{home_id}/activity"): (PEOPLE, None),
    ("GET", "/api/family/residents"): (PEOPLE | {"family-2"}, None),  # family-2 gets only Beryl
    ("GET", "/api/family/residents/{resident_id}/status"): (PEOPLE, None),
    ("GET", "/api/family/residents/{resident_id}"): (PEOPLE, None),
    # The registry's records (a GET's dict is its query). Each allowed caller's change is made,
    # or refused for the state the one before left (409), never for who they are.
    ("GET", "/api/residents"): (STAFF, {"name": "arthur"}),
    ("POST", "/api/residents"): (EDITORS, {"name": "New Neighbour", "home_id": "home-1"}),
    ("GET", "/api/residents/{resident_id}"): (EDITORS, None),
    ("GET", "/api/residents/{resident_id}/card"): (STAFF, None),
    ("PATCH", "/api/residents/{resident_id}"): (EDITORS, {"conditions": "COPD"}),
    ("POST", "/api/residents/{resident_id}/status"): (EDITORS, {"status": "monitoring"}),
    ("POST", "/api/residents/{resident_id}/reviews"): (EDITORS, {"reviewed_on": TODAY}),
    ("GET", "/api/residents/{resident_id}/consents"): (EDITORS, None),
    ("POST", "/api/residents/{resident_id}/consents"): (EDITORS, {"responder_id": "{responder_id}", "scope": ["status"],
                                                                  "granted_at": YESTERDAY}),
    ("POST", "/api/consents/{consent_id}/withdraw"): (EDITORS, None),
    ("GET", "/api/homes/{home_id}/address"): (STAFF, None),
    ("PATCH", "/api/homes/{home_id}/address"): (EDITORS, {"address": "2 Arthur Lane"}),
    ("GET", "/api/homes/{home_id}/access"): (STAFF, None),
    ("PUT", "/api/homes/{home_id}/access"): (EDITORS, {"key_safe_code": "7351"}),
    ("POST", "/api/homes/{home_id}/access/reveal"): (STAFF, None),
    ("GET", "/api/homes/{home_id}/devices"): (STAFF, None),
    ("GET", "/api/devices"): (STAFF, {"serial": "Z-1"}),
    ("POST", "/api/devices"): (EDITORS, {"home_id": "home-1", "type": "pendant", "serial": "P-9",
                                         "installed_at": YESTERDAY, "installed_by": "Sam"}),
    ("GET", "/api/devices/{device_pk}"): (STAFF, None),
    ("PATCH", "/api/devices/{device_pk}"): (EDITORS, {"room": "hall"}),
    ("POST", "/api/devices/{device_pk}/test"): (EDITORS, {"result": "passed", "tested_at": YESTERDAY}),
    ("POST", "/api/devices/{device_pk}/removal"): (EDITORS, {"reason": "faulty", "removed_at": YESTERDAY}),
    ("GET", "/api/responders"): (EDITORS, None),
    ("POST", "/api/responders"): (EDITORS, {"name": "Mobile team", "kind": "mobile"}),
    ("GET", "/api/responders/{responder_id}"): (EDITORS, None),
    ("PATCH", "/api/responders/{responder_id}"): (EDITORS, {"phones": ["01603 222333"]}),
    ("GET", "/api/homes/{home_id}/contacts"): (EDITORS, None),
    ("POST", "/api/homes/{home_id}/contacts"): (EDITORS, {"responder_id": "{responder_id}"}),  # 409: already one
    ("PUT", "/api/homes/{home_id}/contacts/order"): (EDITORS, {"contacts": [{"id": "{contact_id}", "version": 1}]}),
    ("GET", "/api/contacts/{contact_id}"): (EDITORS, None),
    ("PATCH", "/api/contacts/{contact_id}"): (EDITORS, {"key_holder": True}),
    ("POST", "/api/contacts/{contact_id}/end"): (EDITORS, None),
    ("GET", "/api/chains/default"): (STAFF, None),
    ("GET", "/api/homes/{home_id}/chains"): (STAFF, None),
    ("POST", "/api/chains"): (EDITORS, {"home_id": "home-1", "name": "night", "active_from": "22:00",
                                        "active_until": "07:00", "steps": [{"responder_id": "{responder_id}"}]}),
    ("GET", "/api/chains/{chain_id}"): (STAFF, None),
    ("PUT", "/api/chains/{chain_id}"): (EDITORS, {"home_id": "home-1", "name": "day",
                                                  "steps": [{"responder_id": "{responder_id}"}]}),
    ("POST", "/api/chains/{chain_id}/retire"): (EDITORS, None),
    ("GET", "/api/audit"): (EDITORS, None),
    # Ends last: what they end is used above.
    ("POST", "/api/responders/{responder_id}/end"): (EDITORS, None),
    ("POST", "/api/residents/{resident_id}/removal"): (EDITORS, {"reason": "moved_away", "left_at": YESTERDAY}),
    ("POST", "/api/me/password"): (set(ROLES), {"current_password": PASSWORD, "new_password": "too short"}),  # a 422
    ("POST", "/api/admin/users"): ({"admin"}, {"username": "new-operator", "password": "a long password!", "role": "operator"}),
    ("GET", "/api/admin/users"): ({"admin"}, None),
    ("POST", "/api/admin/users/{username}/disable"): ({"admin"}, None),
    ("POST", "/api/admin/users/{username}/enable"): ({"admin"}, None),
    ("POST", "/api/admin/users/{username}/password"): ({"admin"}, {"password": "another long passphrase"}),
    ("POST", "/api/admin/users/{username}/responder"): ({"admin"}, {"responder_id": None}),
    ("POST", "/api/admin/api-keys"): ({"admin"}, {"username": "operator", "name": "care records"}),
    ("GET", "/api/admin/api-keys"): ({"admin"}, None),
    ("POST", "/api/admin/api-keys/{key_id}/revoke"): ({"admin"}, None),
    ("GET", "/api/admin/access-log"): ({"admin"}, None),
    ("GET", "/api/reports/reach"): (REPORTS, None),
    ("GET", "/api/reports/reach/monthly"): (REPORTS, None),
    ("GET", "/api/reports/reach/per-1000"): (REPORTS, None),
    ("PUT", "/api/reports/population"): (REPORTS, "district,aged_65_plus\nNorwich,19000\n"),  # CSV text
    ("GET", "/api/reports/alert-rates"): (REPORTS, None),
    ("GET", "/api/reports/acknowledgement"): (REPORTS, None),
    ("GET", "/api/reports/outcomes"): (REPORTS, None),
    ("GET", "/api/reports/still-at-home"): (REPORTS, None),
    ("GET", "/api/reports/device-faults"): (REPORTS, None),
    ("GET", "/api/reports/time-to-answer"): (REPORTS, None),
    ("GET", "/api/reports/time-to-attend"): (REPORTS, None),
    ("GET", "/api/reports/alarm-to-outcome"): (REPORTS, None),
    ("GET", "/api/call-quality"): ({"admin"}, None),
    ("GET", "/api/call-quality/calls"): ({"admin"}, None),
    ("POST", "/api/call-quality/audits"): ({"admin"}, {"alert_id": 1, "handler": "operator", "greeting_identity": True,
                                                       "correct_action": True, "trail_complete": True, "score": 4}),
    # Last: once the admin has erased Arthur there is nothing of his left to leak.
    ("POST", "/api/admin/residents/{resident_id}/erase"): ({"admin"}, {"left_reason": "moved_away"}),
    # Truly last: each client's token is revoked by it.
    ("POST", "/api/auth/logout"): (set(ROLES), None),
}


@pytest.fixture
def setup(registry_url, tmp_path):
    engine = make_engine(registry_url)
    upgrade(engine)
    cast = seed_cast(engine)
    [alert_id] = AlertEngine(engine, clock=lambda: T0).raise_hits(
        [RuleHit("home-1", "pendant", T0, "Pendant pressed", {}, "pendant-1")])
    with api_server(registry_url, tmp_path) as (base_url, _):
        yield base_url, engine, cast, alert_id
    engine.dispose()


def _enrolled(engine, arthur_id: int) -> dict[str, int]:
    """Records of Arthur's home for the registry's routes: a neighbour with no account (a contact,
    a chain's step, and a consent that may be withdrawn without changing what family-1 sees) and
    a device with a serial."""
    with Session(engine) as s, s.begin():
        ned = contacts.create_responder(s, "test", {"name": "Ned Neighbour", "kind": "neighbour"}, now=T0)
        contact = contacts.add_contact(s, "test", "home-1", {"responder_id": ned.id, "key_holder": True}, now=T0)
        chain = chains.create_chain(s, "test", {"home_id": "home-1", "name": "all day",
                                               "steps": [{"responder_id": ned.id}]}, now=T0)
        given = consent.grant_consent(s, "test", arthur_id, {"responder_id": ned.id, "scope": ["alerts"],
                                                              "granted_at": T0}, now=T0)
        device = devices.register_device(s, "test", {"home_id": "home-1", "type": "smoke", "room": "hall",
                                                      "serial": "Z-1", "installed_at": T0, "installed_by": "Sam"},
                                         now=T0)
    return {"responder_id": ned.id, "contact_id": contact.id, "chain_id": chain.id, "consent_id": given.id,
            "device_pk": device.id}


def _filled(body, ids: dict[str, int]):
    """A body with its "{name}" placeholders replaced by the ids they name."""
    if isinstance(body, dict):
        return {k: _filled(v, ids) for k, v in body.items()}
    if isinstance(body, list):
        return [_filled(v, ids) for v in body]
    if isinstance(body, str) and body.startswith("{") and body.endswith("}") and body[1:-1] in ids:
        return ids[body[1:-1]]
    return body


def _routes() -> set[tuple[str, str]]:
    """Every operation the app publishes in its OpenAPI schema."""
    paths = create_app(Settings()).openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def _call(client: httpx.Client, method: str, path: str, body: dict | str | None) -> tuple[int, str]:
    if path.endswith("/stream"):
        with client.stream(method, path) as r:  # an endless stream: the status is enough
            return r.status_code, ""
    if isinstance(body, str):  # a CSV upload
        r = client.request(method, path, content=body, headers={"Content-Type": "text/csv"})
        return r.status_code, r.text
    if method == "GET":
        r = client.request(method, path, params=body)
        return r.status_code, r.text
    # Changes name a version; "*" (whatever is stored) lets every allowed caller's change through.
    r = client.request(method, path, json=body, headers={"If-Match": "*"})
    return r.status_code, r.text


def test_every_route_is_in_the_matrix():
    protected = {(m, p) for m, p in _routes() if p not in PUBLIC}
    assert protected == set(MATRIX), f"routes missing from the matrix: {protected - set(MATRIX)}; stale: {set(MATRIX) - protected}"


def test_authorisation_matrix(setup):
    base_url, engine, cast, alert_id = setup
    ids = _enrolled(engine, cast.arthur_id)
    anonymous = httpx.Client(base_url=base_url, timeout=10)
    clients = {role: signed_in(base_url, role) for role in ROLES}
    # Access information to replace and reveal (recording the first needs no version: there is none).
    assert clients["coordinator"].put("/api/homes/home-1/access", json={"key_safe_code": "1234"}).status_code == 200
    failures = []
    for (method, template), (allowed, body) in MATRIX.items():
        path = template.format(alert_id=alert_id, home_id="home-1", resident_id=cast.arthur_id,
                               username="new-operator", key_id=1, **ids)
        body = _filled(body, ids)
        status, _ = _call(anonymous, method, path, body)
        if status != 401:
            failures.append(f"anonymous {method} {path}: {status}, wanted 401")
        for role in ROLES:
            status, text = _call(clients[role], method, path, body)
            if role in allowed:
                if status in (401, 403, 404) or status >= 500:
                    failures.append(f"{role} {method} {path}: {status} {text[:100]}")
            else:
                if status not in (403, 404):
                    failures.append(f"{role} {method} {path}: {status}, wanted 403/404")
                if "Arthur" in text or "Pendant pressed" in text or "Lane" in text:
                    failures.append(f"{role} {method} {path}: leaked Arthur's data")
    assert not failures, "\n".join(failures)


def test_family_sees_only_their_own_relative(setup):
    base_url, engine, _cast, alert_id = setup
    with signed_in(base_url, "family-1") as mine, signed_in(base_url, "family-2") as theirs:
        assert [a["id"] for a in mine.get("/api/alerts").json()["items"]] == [alert_id]
        assert theirs.get("/api/alerts").json() == {"items": [], "total": 0, "limit": 100, "offset": 0}
        assert [h["id"] for h in mine.get("/api/homes").json()["items"]] == ["home-1"]
        assert [h["id"] for h in theirs.get("/api/homes").json()["items"]] == ["home-2"]
        home = mine.get("/api/homes/home-1").json()
        assert [r["name"] for r in home["residents"]] == ["Arthur Example"]
        for path in ("/api/homes/home-1", f"/api/alerts/{alert_id}", "/api/homes/home-1/activity"):
            r = theirs.get(path)
            assert r.status_code == 404 and "Arthur" not in r.text, (path, r.text)
        # A home that does not exist and one that is not theirs look the same.
        assert theirs.get("/api/homes/home-404").json() == {"detail": "no home 'home-404'"}
        assert theirs.get("/api/homes/home-1").json() == {"detail": "no home 'home-1'"}
    with Session(engine) as s:
        log = [(e.username, e.action, e.home_id, e.outcome)
               for e in s.scalars(select(AccessLog).order_by(AccessLog.id))]
    assert ("family-1", "read home", "home-1", "allowed") in log
    refused = [e for e in log if e[0] == "family-2" and e[2] == "home-1"]
    assert refused and all(e[3] == "denied" for e in refused), "a refused read is logged as refused, not as a read"


def test_sign_in_tokens_and_api_keys(setup):
    base_url, engine, _cast, _alert_id = setup
    bad = httpx.post(f"{base_url}/api/auth/token", data={"username": "operator", "password": "wrong"})
    assert bad.status_code == 401 and bad.json()["detail"] == "wrong username or password"
    nobody = httpx.post(f"{base_url}/api/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert nobody.status_code == 401 and nobody.json() == bad.json(), "unknown users look like wrong passwords"
    assert httpx.get(f"{base_url}/api/me", headers={"Authorization": "Bearer not.a.token"}).status_code == 401
    with signed_in(base_url, "admin") as admin:
        key = admin.post("/api/admin/api-keys", json={"username": "operator", "name": "care records"}).json()["api_key"]
        taken = admin.post("/api/admin/users", json={"username": "operator", "password": "a long password!",
                                                      "role": "operator"})
        assert taken.status_code == 409
        short = admin.post("/api/admin/users", json={"username": "x1x", "password": "short", "role": "operator"})
        assert short.status_code == 422
    me = httpx.get(f"{base_url}/api/me", headers={"X-API-Key": key})
    assert me.json() == {"username": "operator", "role": "operator"}
    assert httpx.get(f"{base_url}/api/me", headers={"X-API-Key": key + "x"}).status_code == 401
    with signed_in(base_url, "operator") as operator:
        with Session(engine) as s, s.begin():
            s.scalar(select(User).where(User.username == "operator")).active = False
        r = operator.get("/api/me")
        assert r.status_code == 401 and "disabled" in r.json()["detail"], "a disabled account stops at once"
    assert httpx.get(f"{base_url}/api/me", headers={"X-API-Key": key}).status_code == 401
    with Session(engine) as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "admin"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_passwords_are_checked_against_argon2():
    hashed = access.hash_password("a long password")
    assert re.match(r"^\$argon2id\$v=19\$", hashed)
