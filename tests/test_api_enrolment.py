"""Enrolment over HTTP, on a real server with SQLite and PostgreSQL: every record made, read,
changed and ended through the API; 422s that name the field; ETags and If-Match so that two
coordinators cannot overwrite each other; an audit row for every change; access information
revealed to staff only, each time logged; family members see what the consent scope allows.

The server's clock is fixed (a Wednesday, 10:00 in London), so ages, "available now" and "not in
the future" come out the same whenever the tests run."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from unittest import mock

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import AccessLog, UserRole

import apisupport
from apisupport import PASSWORD, api_server, seed_cast, signed_in

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)  # a Wednesday; London is on GMT
CODE = "7351"  # a key-safe code: never stored, audited or logged in clear
ADA = {"name": "Ada Lovelace Smith", "preferred_name": "Ada", "nhs_number": "943 476 5919", "council_ref": "NCC-1",
       "date_of_birth": "1941-06-01", "phones": ["01603 123456"], "risks": ["Lives alone"], "conditions": "COPD",
       "communication_needs": ["hard of hearing"], "primary_need": "dementia", "gp_practice": "Elm Surgery",
       "home": {"address": "1 Elm Row, Norwich", "postcode": "nr3 1ab", "district": "Norwich"}}


@pytest.fixture
def server(registry_url, tmp_path):
    engine = make_engine(registry_url)
    upgrade(engine)
    cast = seed_cast(engine)
    with Session(engine) as s, s.begin(), mock.patch.object(access, "hash_password", apisupport._password_hash):
        access.create_user(s, "coordinator-2", PASSWORD, UserRole.COORDINATOR)
    with api_server(registry_url, tmp_path, clock=lambda: NOW) as (base_url, _settings):
        yield base_url, engine, cast
    engine.dispose()


def logged(engine, username: str) -> list[tuple[str, str, str | None, int | None]]:
    with Session(engine) as s:
        return [(e.action, e.outcome, e.home_id, e.resident_id) for e in
                s.scalars(select(AccessLog).where(AccessLog.username == username).order_by(AccessLog.id))]


def fields_named(r) -> set[tuple]:
    assert r.status_code == 422, r.text
    return {tuple(p["loc"]) for p in r.json()["detail"]}


def test_a_resident_is_enrolled_found_changed_moved_on_reviewed_and_removed(server):
    base_url, engine, _cast = server
    with signed_in(base_url, "coordinator") as cat:
        made = cat.post("/api/residents", json=ADA)
        assert made.status_code == 201 and made.headers["ETag"] == '"1"', made.text
        ada = made.json()
        assert made.headers["Location"] == f"/api/residents/{ada['id']}"
        assert (ada["nhs_number"], ada["home"]["postcode"], ada["phones"], ada["risks"], ada["status"]) == (
            "9434765919", "NR3 1AB", ["+441603123456"], ["lives_alone"], "referral")
        read = cat.get(f"/api/residents/{ada['id']}")
        assert read.json() == ada and read.headers["ETag"] == '"1"'
        bob = cat.post("/api/residents", json={"name": "Bob Smith", "home_id": ada["home_id"]}).json()
        assert cat.get("/api/residents", params={"name": "LOVELACE"}).json()["items"][0]["id"] == ada["id"]
        page = cat.get("/api/residents", params={"postcode": "nr3", "limit": 1, "offset": 1}).json()
        assert (page["total"], [r["id"] for r in page["items"]]) == (2, [bob["id"]])
        assert cat.get("/api/residents", params={"nhs_number": "943-476-5919"}).json()["total"] == 1

        path = f"/api/residents/{ada['id']}"
        changed = cat.patch(path, json={"medication": "donepezil", "mobility": "Walking aid"}, headers={"If-Match": '"1"'})
        assert (changed.status_code, changed.headers["ETag"], changed.json()["mobility"]) == (200, '"2"', "walking_aid")
        moved = cat.post(f"{path}/status", json={"status": "assessment"}, headers={"If-Match": '"2"'})
        assert moved.json()["status"] == "assessment"
        back = cat.post(f"{path}/status", json={"status": "referral", "version": 3})
        assert fields_named(back) == {("body", "status")} and "forward" in back.text
        reviewed = cat.post(f"{path}/reviews", json={"reviewed_on": "2026-12-01", "next_review_on": "2027-06-01",
                                                     "version": 3})
        assert reviewed.json()["next_review_on"] == "2027-06-01" and reviewed.headers["ETag"] == '"4"'

        address = cat.get(f"/api/homes/{ada['home_id']}/address")
        assert address.json()["postcode_area"] == "NR3"
        fixed = cat.patch(f"/api/homes/{ada['home_id']}/address", json={"address": "1a Elm Row, Norwich"},
                          headers={"If-Match": address.headers["ETag"]})
        assert fixed.json()["address"] == "1a Elm Row, Norwich"

        gone = cat.post(f"{path}/removal", json={"reason": "moved_away", "left_at": "2026-12-01T12:00:00+00:00"},
                        headers={"If-Match": '"4"'})
        assert (gone.json()["status"], gone.json()["removal_reason"]) == ("removed", "moved_away")
        assert cat.post(f"{path}/removal", json={"reason": "died", "left_at": "2026-12-01T12:00:00+00:00"},
                        headers={"If-Match": '"5"'}).status_code == 409  # already removed

        trail = cat.get("/api/audit", params={"resident_id": ada["id"]}).json()["items"]
        assert [a["action"] for a in trail] == ["remove", "review", "status", "update", "create"]
        assert trail[3]["changes"] == {"medication": {"old": "", "new": "donepezil"},
                                       "mobility": {"old": None, "new": "walking_aid"}}
        assert {a["actor"] for a in trail} == {"coordinator (coordinator)"}
        home_trail = cat.get("/api/audit", params={"entity": "home", "entity_id": ada["home_id"]}).json()["items"]
        assert home_trail[0]["changes"] == {"address": {"old": "1 Elm Row, Norwich", "new": "1a Elm Row, Norwich"}}
    rows = logged(engine, "coordinator")
    for action in ("create resident", "read resident", "search residents", "update resident", "remove resident",
                   "read home address", "read registry audit"):
        assert any(r[0] == action and r[1] == "allowed" for r in rows), action
    assert ("read resident", "allowed", ada["home_id"], ada["id"]) in rows


def test_invalid_input_is_a_422_naming_the_field_without_echoing_it(server):
    base_url, _engine, _cast = server
    with signed_in(base_url, "coordinator") as cat:
        bad_nhs = cat.post("/api/residents", json=ADA | {"nhs_number": "943 476 5918"})
        assert fields_named(bad_nhs) == {("body", "nhs_number")} and "check digit" in bad_nhs.text
        assert "5918" not in bad_nhs.text, "a 422 does not repeat what was sent"
        assert fields_named(cat.post("/api/residents", json=ADA | {"mystery": 1})) == {("body", "mystery")}
        future = cat.post("/api/residents", json=ADA | {"date_of_birth": "2026-12-03"})
        assert fields_named(future) == {("body", "date_of_birth")} and "future" in future.text
        ada = cat.post("/api/residents", json=ADA).json()
        device = {"home_id": ada["home_id"], "type": "motion", "serial": "S-1", "installed_by": "Sam",
                  "installed_at": "2026-12-02T09:00:00+00:00"}
        attic = cat.post("/api/devices", json=device | {"room": "attic"})
        assert fields_named(attic) == {("body", "room")} and "kitchen" in attic.text  # the list is named
        assert "needs the room" in cat.post("/api/devices", json=device).text
        assert fields_named(cat.post("/api/devices", json=device | {"room": "hall", "installed_at": "0001-01-01T00:00:00+01:00"})) == {
            ("body", "installed_at")}
        chain = cat.post("/api/chains", json={"name": "night", "steps": [{"responder_id": 99999}]})
        assert fields_named(chain) == {("body", "steps", 0, "responder_id")}
        assert fields_named(cat.get("/api/residents", params={"nhs_number": "123"})) == {("query", "nhs_number")}
        naive = cat.post(f"/api/residents/{ada['id']}/removal", json={"reason": "died", "left_at": "2026-12-01T09:00"},
                         headers={"If-Match": '"1"'})
        assert fields_named(naive) == {("body", "left_at")}
        cleared = cat.patch(f"/api/residents/{ada['id']}", json={"name": None}, headers={"If-Match": '"1"'})
        assert fields_named(cleared) == {("body", "name")} and "may not be empty" in cleared.text
        assert cat.get(f"/api/residents/{ada['id']}").json()["version"] == 1, "nothing refused was saved"
        assert cat.get("/api/residents/99999").status_code == 404


def test_two_coordinators_editing_one_resident_never_lose_a_change(server):
    base_url, engine, _cast = server
    with signed_in(base_url, "coordinator") as cat, signed_in(base_url, "coordinator-2") as dev:
        ada = cat.post("/api/residents", json=ADA).json()
        path = f"/api/residents/{ada['id']}"
        cat_read, dev_read = cat.get(path).headers["ETag"], dev.get(path).headers["ETag"]  # both read version 1
        assert cat.patch(path, json={"medication": "donepezil"}, headers={"If-Match": cat_read}).status_code == 200
        stale = dev.patch(path, json={"allergies": "penicillin"}, headers={"If-Match": dev_read})
        assert stale.status_code == 412 and stale.headers["ETag"] == '"2"' and "read it again" in stale.json()["detail"]
        form = dev.patch(path, json={"allergies": "penicillin", "version": 1})  # a form's hidden version
        assert form.status_code == 409 and form.headers["ETag"] == '"2"'
        assert dev.patch(path, json={"allergies": "penicillin"}).status_code == 428  # no version at all
        assert dev.patch(path, json={"allergies": "penicillin"}, headers={"If-Match": "yesterday's"}).status_code == 412
        redone = dev.patch(path, json={"allergies": "penicillin"}, headers={"If-Match": stale.headers["ETag"]})
        assert redone.status_code == 200 and redone.headers["ETag"] == '"3"'
        now_ = cat.get(path).json()
        assert (now_["medication"], now_["allergies"], now_["version"]) == ("donepezil", "penicillin", 3)

        # Both send their change at the same moment against the version they read: one wins, the
        # other is told, whichever database decides.
        gate = threading.Barrier(2)
        statuses: dict[str, int] = {}

        def edit(client, who: str, medication: str) -> None:
            gate.wait()
            statuses[who] = client.patch(path, json={"medication": medication}, headers={"If-Match": '"3"'}).status_code

        threads = [threading.Thread(target=edit, args=(c, n, m)) for c, n, m in ((cat, "cat", "memantine"),
                                                                                  (dev, "dev", "rivastigmine"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(statuses.values()) == [200, 412], statuses
        winner = "memantine" if statuses["cat"] == 200 else "rivastigmine"
        final = cat.get(path).json()
        assert (final["medication"], final["allergies"], final["version"]) == (winner, "penicillin", 4)
        updates = [a for a in cat.get("/api/audit", params={"entity": "resident", "entity_id": str(ada["id"])}).json()["items"]
                   if a["action"] == "update"]
        assert [list(a["changes"]) for a in updates] == [["medication"], ["allergies"], ["medication"]], \
            "one audit row for each change made, none for those refused"
        # The same for a home's address: If-Match: * is "whatever is there", for tools that mean it.
        home = f"/api/homes/{ada['home_id']}/address"
        tag = cat.get(home).headers["ETag"]
        assert cat.patch(home, json={"district": "Broadland"}, headers={"If-Match": tag}).status_code == 200
        assert dev.patch(home, json={"district": "South Norfolk"}, headers={"If-Match": tag}).status_code == 412
        assert dev.patch(home, json={"uprn": "100091234567"}, headers={"If-Match": "*"}).json()["district"] == "Broadland"


def test_devices_contacts_chains_and_consent_are_made_changed_and_ended(server):
    base_url, _engine, _cast = server
    with signed_in(base_url, "coordinator") as cat:
        home = cat.post("/api/residents", json=ADA).json()["home_id"]
        ada_id = cat.get("/api/residents", params={"home_id": home}).json()["items"][0]["id"]
        made = cat.post("/api/devices", json={"home_id": home, "type": "door", "room": "Hall", "role": "entrance door",
                                              "serial": "Z-100", "installed_at": "2026-12-02T08:00:00+00:00",
                                              "installed_by": "Sam"})
        door = made.json()
        assert (made.status_code, door["device_id"], door["role"]) == (201, "door-hall", "entrance_door")
        tested = cat.post(f"/api/devices/{door['id']}/test", json={"result": "passed", "notes": "seen at the centre",
                                                                   "tested_at": "2026-12-02T08:10:00+00:00"},
                          headers={"If-Match": made.headers["ETag"]})
        assert (tested.json()["test_result"], tested.json()["tested_by"]) == ("passed", "coordinator (coordinator)")
        moved = cat.patch(f"/api/devices/{door['id']}", json={"room": "porch"}, headers={"If-Match": tested.headers["ETag"]})
        assert moved.json()["room"] == "porch"
        assert cat.get("/api/devices", params={"serial": "Z-100"}).json()["id"] == door["id"]
        removed = cat.post(f"/api/devices/{door['id']}/removal", json={"reason": "faulty", "removed_at": NOW.isoformat()},
                           headers={"If-Match": moved.headers["ETag"]})
        assert removed.json()["removal_reason"] == "faulty"
        assert cat.get(f"/api/homes/{home}/devices").json() == []
        assert len(cat.get(f"/api/homes/{home}/devices", params={"include_removed": True}).json()) == 1
        assert [a["action"] for a in cat.get("/api/audit", params={"entity": "device", "entity_id": str(door["id"])})
                .json()["items"]] == ["remove", "update", "test", "create"]

        jo = cat.post("/api/responders", json={"name": "Jo Smith", "kind": "family", "phones": ["07700 900123"]}).json()
        ned = cat.post("/api/responders", json={"name": "Ned", "kind": "Neighbour"}).json()
        first = cat.post(f"/api/homes/{home}/contacts", json={"responder_id": jo["id"], "relation": "daughter",
                                                              "key_holder": True}).json()
        second = cat.post(f"/api/homes/{home}/contacts", json={"responder_id": ned["id"]}).json()
        assert (first["position"], second["position"]) == (1, 2)
        order = {"contacts": [{"id": second["id"], "version": second["version"]},
                              {"id": first["id"], "version": first["version"]}]}
        assert [c["responder"]["name"] for c in cat.put(f"/api/homes/{home}/contacts/order", json=order).json()] == [
            "Ned", "Jo Smith"]
        assert cat.put(f"/api/homes/{home}/contacts/order", json=order).status_code == 409  # versions moved on
        got = cat.get(f"/api/contacts/{first['id']}")
        changed = cat.patch(f"/api/contacts/{first['id']}", json={"availability": [
            {"days": ["sat", "sun"], "start": "10:00", "end": "12:00"}]}, headers={"If-Match": got.headers["ETag"]})
        assert changed.json()["availability"] == [{"days": ["sat", "sun"], "start": "10:00:00", "end": "12:00:00"}]
        phoned = cat.patch(f"/api/responders/{ned['id']}", json={"phones": ["01603 222333"]},
                           headers={"If-Match": cat.get(f"/api/responders/{ned['id']}").headers["ETag"]})
        assert phoned.json()["phones"] == ["+441603222333"]
        ended = cat.post(f"/api/contacts/{second['id']}/end", json={"version": 2})
        assert ended.json()["ended_at"] == "2026-12-02T10:00:00Z"
        assert [c["id"] for c in cat.get(f"/api/homes/{home}/contacts").json()] == [first["id"]]

        county = cat.post("/api/chains", json={"name": "county", "steps": [{"responder_id": jo["id"]}]}).json()
        night = cat.post("/api/chains", json={"home_id": home, "name": "night", "active_from": "22:00",
                                              "active_until": "07:00", "steps": [
                                                  {"responder_id": ned["id"], "wait_minutes": 3},
                                                  {"responder_id": jo["id"]}]})
        assert night.status_code == 201 and [s["responder"] for s in night.json()["steps"]] == ["Ned", "Jo Smith"]
        assert county["id"] in [c["id"] for c in cat.get("/api/chains/default").json()]
        edited = cat.put(f"/api/chains/{night.json()['id']}", headers={"If-Match": night.headers["ETag"]}, json={
            "home_id": home, "name": "late", "active_from": "23:00", "active_until": "07:00",
            "steps": [{"responder_id": jo["id"]}]})
        assert (edited.json()["name"], len(edited.json()["steps"])) == ("late", 1)
        retired = cat.post(f"/api/chains/{night.json()['id']}/retire", headers={"If-Match": edited.headers["ETag"]})
        assert retired.json()["retired_at"] == "2026-12-02T10:00:00Z"
        assert cat.get(f"/api/homes/{home}/chains").json() == []
        assert cat.post(f"/api/responders/{ned['id']}/end", json={"version": phoned.json()["version"]}).json()["active"] is False

        given = cat.post(f"/api/residents/{ada_id}/consents", json={"responder_id": jo["id"], "scope": ["status"],
                                                                    "granted_at": "2026-12-01T09:00:00+00:00"})
        assert given.status_code == 201 and given.json()["recorded_by"] == "coordinator (coordinator)"
        assert [c["id"] for c in cat.get(f"/api/residents/{ada_id}/consents").json()] == [given.json()["id"]]
        gone = cat.post(f"/api/consents/{given.json()['id']}/withdraw", headers={"If-Match": given.headers["ETag"]})
        assert gone.json()["revoked_at"] == "2026-12-02T10:00:00Z"
        assert cat.get(f"/api/residents/{ada_id}/consents").json() == []
        assert len(cat.get(f"/api/residents/{ada_id}/consents", params={"include_withdrawn": True}).json()) == 1


def test_access_information_is_revealed_to_staff_only_and_every_reveal_is_logged(server):
    base_url, engine, _cast = server
    path = "/api/homes/home-1/access"
    with signed_in(base_url, "coordinator") as cat:
        assert cat.put(path, json={"key_safe_code": CODE}, headers={"If-Match": "*"}).status_code == 412  # none yet
        first = cat.put(path, json={"key_safe_location": "behind the blue pot", "key_safe_code": CODE})
        assert (first.status_code, first.json()["recorded"], first.headers["ETag"]) == (200, True, '"1"')
        assert cat.put(path, json={"key_safe_code": "9900"}).status_code == 428  # replacing needs the version
        second = cat.put(path, json={"key_safe_location": "behind the blue pot", "key_safe_code": "9900"},
                         headers={"If-Match": '"1"'})
        assert second.json()["version"] == 2
        assert cat.put(path, json={"key_safe_code": "1111"}, headers={"If-Match": '"1"'}).status_code == 412
        status = cat.get(path)
        assert status.json()["updated_by"] == "coordinator (coordinator)" and "9900" not in status.text
        trail = cat.get("/api/audit", params={"entity": "access_info"})
        assert [a["changes"] for a in reversed(trail.json()["items"])] == [
            {"key_safe_location": {"old": None, "new": "(changed)"}, "key_safe_code": {"old": None, "new": "(changed)"}},
            {"key_safe_code": {"old": "(changed)", "new": "(changed)"}}]
    with signed_in(base_url, "operator") as operator:
        shown = operator.post(f"{path}/reveal")
        assert (shown.json()["key_safe_code"], shown.headers["Cache-Control"]) == ("9900", "no-store")
        assert operator.post("/api/homes/home-2/access/reveal").status_code == 404  # nothing recorded there
    for nosy in ("family-1", "commissioner"):  # family-1 is home-1's own family: still not the key safe
        with signed_in(base_url, nosy) as client:
            refused = client.post(f"{path}/reveal")
            assert refused.status_code == 403 and "9900" not in refused.text
            assert logged(engine, nosy)[-1] == ("POST /api/homes/{home_id}/access/reveal", "denied", "home-1", None)
    assert logged(engine, "operator") == [("read access information", "allowed", "home-1", None),
                                          ("read access information", "denied", "home-2", None)]
    with engine.connect() as conn:
        stored = " ".join(str(v) for table in ("home_access", "registry_audit", "access_log")
                          for row in conn.execute(text(f"SELECT * FROM {table}")) for v in row)
    assert CODE not in stored and "9900" not in stored and "blue pot" not in stored


def test_family_members_see_their_relative_within_the_consent_scope(server):
    base_url, engine, cast = server
    with signed_in(base_url, "coordinator") as cat, signed_in(base_url, "admin") as admin:
        jo = cat.post("/api/responders", json={"name": "Jo Example", "kind": "family"}).json()
        assert admin.post("/api/admin/users", json={"username": "jo-smith", "password": PASSWORD, "role": "family",
                                                    "responder_id": jo["id"]}).status_code == 201
        grant = {"responder_id": jo["id"], "scope": ["alerts"], "granted_at": "2026-12-01T09:00:00+00:00"}
        consent = cat.post(f"/api/residents/{cast.arthur_id}/consents", json=grant).json()
        with signed_in(base_url, "jo-smith") as family:
            mine = family.get(f"/api/family/residents/{cast.arthur_id}").json()
            assert (mine["name"], mine["scope"], mine["status"], mine["devices"]) == (
                "Arthur Example", ["alerts"], None, None)
            assert family.get(f"/api/family/residents/{cast.beryl_id}").status_code == 404
            for path in (f"/api/residents/{cast.arthur_id}", f"/api/residents/{cast.arthur_id}/card",
                         "/api/homes/home-1/contacts", "/api/homes/home-1/address"):
                assert family.get(path).status_code == 403, path
            cat.post(f"/api/residents/{cast.arthur_id}/consents", json=grant | {"scope": ["status", "devices"]})
            wider = family.get(f"/api/family/residents/{cast.arthur_id}").json()
            assert (wider["status"], [(d["type"], d["room"]) for d in wider["devices"]]) == (
                "monitoring", [("motion", "lounge")])
            cat.post(f"/api/consents/{consent['id']}/withdraw", json={"version": 2})
            gone = family.get(f"/api/family/residents/{cast.arthur_id}")
            assert gone.status_code == 404 and "Arthur" not in gone.text
    assert logged(engine, "jo-smith") == [
        ("read resident record", "allowed", "home-1", cast.arthur_id),
        ("read resident record", "denied", None, cast.beryl_id),
        *[(f"GET {p}", "denied", h, r) for p, h, r in (
            ("/api/residents/{resident_id}", None, cast.arthur_id), ("/api/residents/{resident_id}/card", None, cast.arthur_id),
            ("/api/homes/{home_id}/contacts", "home-1", None), ("/api/homes/{home_id}/address", "home-1", None))],
        ("read resident record", "allowed", "home-1", cast.arthur_id),
        ("read resident record", "denied", None, cast.arthur_id)]


def test_whoever_handles_a_call_reads_the_resident_card(server):
    base_url, engine, _cast = server
    with signed_in(base_url, "coordinator") as cat:
        ada = cat.post("/api/residents", json=ADA).json()
        home = ada["home_id"]
        for name, extra in (("Jo", {"key_holder": True, "relation": "daughter"}),
                            ("Ned", {"availability": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                                                       "end": "17:00"}]}),
                            ("Sid", {"availability": [{"days": ["sat", "sun"], "start": "10:00", "end": "12:00"}]})):
            who = cat.post("/api/responders", json={"name": name, "kind": "family", "phones": ["07700 900123"]}).json()
            cat.post(f"/api/homes/{home}/contacts", json={"responder_id": who["id"]} | extra)
        cat.put(f"/api/homes/{home}/access", json={"key_safe_code": CODE})
    for role in ("operator", "responder"):
        with signed_in(base_url, role) as staff:
            card = staff.get(f"/api/residents/{ada['id']}/card")
            assert card.status_code == 200, card.text
            c = card.json()
            assert (c["preferred_name"], c["age"], c["address"], c["risks"], c["gp_practice"]) == (
                "Ada", 85, "1 Elm Row, Norwich", ["lives_alone"], "Elm Surgery")
            assert [(x["name"], x["key_holder"], x["available_now"]) for x in c["contacts"]] == [
                ("Jo", True, True), ("Ned", False, True), ("Sid", False, False)]
            assert c["access_info_recorded"] is True and CODE not in card.text
            assert "1941" not in card.text and "9434765919" not in card.text, "age, not the date of birth; no NHS number"
            assert staff.get(f"/api/residents/{ada['id']}").status_code == 403, "the whole record is the TEC team's"
        assert logged(engine, role)[0] == ("read resident card", "allowed", home, ada["id"])
