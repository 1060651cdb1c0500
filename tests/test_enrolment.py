"""Enrolment through the registry's services, on SQLite and PostgreSQL: residents through the
workflow, devices, contacts, escalation chains, consent and sealed access information; fields
validated with clear reasons, optimistic concurrency, and an audit row for every change."""

from __future__ import annotations

import base64
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.escalation import Dispatcher
from tecwatch.api import access
from tecwatch.api.outcomes import still_at_home
from tecwatch.registry import accessinfo, chains, consent, contacts, devices, erasure, residents
from tecwatch.registry.changes import Conflict, Invalid, NotAllowed, NotFound
from tecwatch.registry.models import AccessLog, Alert, AlertEvent, FamilyConsent, Resident, UserRole
from tecwatch.registry.records import AuditEntry, HomeAccess, HomeContact
from tecwatch.registry.vocab import DeviceRemovalReason, LeftReason, ResidentStatus
from tecwatch.settings import AlertSettings
from tecwatch.store.sqlite import SQLiteStore

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
KEY = base64.urlsafe_b64encode(b"a test key, 32 bytes long, fixed").decode()
CODE = "7351"  # the key-safe code: it must never be stored or audited in clear
ADA = {"name": "Ada Lovelace Smith", "preferred_name": "Ada", "nhs_number": "943 476 5919", "council_ref": "NCC-1",
       "date_of_birth": "1941-06-01", "phones": ["01603 123456"], "risks": ["Lives alone", "oxygen"],
       "communication_needs": ["hard of hearing"], "primary_need": "dementia",
       "home": {"address": "1 Elm Row, Norwich", "postcode": "nr3 1ab", "district": "Norwich"}}


class Who:
    def __init__(self, username: str, role: UserRole):
        self.username, self.role = username, role


def problems(err: pytest.ExceptionInfo) -> dict[str, str]:
    return dict(err.value.problems)


def audit_of(engine, entity: str, entity_id) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
                              .order_by(AuditEntry.id)))


def enrol(engine, data=ADA, now=NOW) -> residents.ResidentRecord:
    with Session(engine) as s, s.begin():
        return residents.create_resident(s, "coordinator Cat", data, now=now)


def test_a_resident_is_enrolled_normalised_searched_and_audited(registry):
    ada = enrol(registry)
    assert (ada.nhs_number, ada.home.postcode, ada.home.postcode_area, ada.phones) == (
        "9434765919", "NR3 1AB", "NR3", ["+441603123456"])
    assert ada.dob_band == "85-89" and ada.status is ResidentStatus.REFERRAL and ada.version == 1
    assert ada.risks == ["lives_alone", "oxygen"] and ada.communication_needs == ["hard_of_hearing"]
    with Session(registry) as s, s.begin():
        bob = residents.create_resident(s, "coordinator Cat", {"name": "Bob Smith", "home_id": ada.home_id}, now=NOW)
        for n in range(3):
            residents.create_resident(s, "coordinator Cat", {"name": f"Other {n}", "home": ADA["home"] | {
                "postcode": "IP25 6AB", "district": "Breckland"}}, now=NOW)
    with Session(registry) as s:
        by = lambda **kw: [r.name for r in residents.search_residents(s, **kw).items]  # noqa: E731
        assert by(name="SMITH") == ["Ada Lovelace Smith", "Bob Smith"]
        assert by(name="ada") == ["Ada Lovelace Smith"]
        assert by(postcode_prefix="nr3") == ["Ada Lovelace Smith", "Bob Smith"]
        assert by(nhs="943-476-5919") == ["Ada Lovelace Smith"] and by(home_id=ada.home_id) == by(postcode_prefix="NR3 1AB")
        page = residents.search_residents(s, postcode_prefix="IP25", limit=2, offset=2)
        assert (page.total, [r.name for r in page.items]) == (3, ["Other 2"])
    # Through the workflow, forward only; reviews recorded.
    with Session(registry) as s, s.begin():
        v = residents.set_status(s, "Cat", ada.id, "assessment", version=1, now=NOW).version
        v = residents.set_status(s, "Cat", ada.id, ResidentStatus.MONITORING, version=v, now=NOW).version
        with pytest.raises(Invalid) as back:
            residents.set_status(s, "Cat", ada.id, "referral", version=v, now=NOW)
        assert "forward" in problems(back)["status"]
        reviewed = residents.record_review(s, "Cat", ada.id, reviewed_on=date(2026, 12, 1),
                                           next_review_on=date(2027, 6, 1), version=v, now=NOW)
        assert (reviewed.last_review_on, reviewed.next_review_on) == (date(2026, 12, 1), date(2027, 6, 1))
        assert [r.id for r in residents.search_residents(s, review_due_by=date(2027, 6, 30)).items] == [ada.id]
        assert bob.id != ada.id
    trail = audit_of(registry, "resident", ada.id)
    assert [(a.action, a.actor) for a in trail] == [("create", "coordinator Cat"), ("status", "Cat"), ("status", "Cat"),
                                                    ("review", "Cat")]
    assert trail[0].changes["nhs_number"] == {"old": None, "new": "9434765919"} and trail[0].home_id == ada.home_id
    assert trail[2].changes == {"status": {"old": "assessment", "new": "monitoring"}}
    assert [a.action for a in audit_of(registry, "home", ada.home_id)] == ["create"]


def test_validation_names_each_field_and_why(registry):
    with Session(registry) as s:
        with pytest.raises(Invalid) as bad:
            residents.create_resident(s, "Cat", ADA | {"nhs_number": "943 476 5918", "phones": ["12345"],
                                                       "risks": ["skydiving"], "mystery": 1,
                                                       "home": ADA["home"] | {"postcode": "NR3"}}, now=NOW)
        found = problems(bad)
        assert "check digit" in found["nhs_number"] and "phone number" in found["phones.0"]
        assert "lives_alone" in found["risks.0"] and "postcode" in found["home.postcode"]
        assert "mystery" in found  # a misspelt field is refused, not dropped
        with pytest.raises(Invalid) as future:
            residents.create_resident(s, "Cat", ADA | {"date_of_birth": "2027-01-01"}, now=NOW)
        assert problems(future) == {"date_of_birth": "is in the future"}
        with pytest.raises(Invalid) as neither:
            residents.create_resident(s, "Cat", {"name": "No Home"}, now=NOW)
        assert "home_id" in str(neither.value)
    ada = enrol(registry)
    base = {"home_id": ada.home_id, "serial": "SN-1", "installed_at": NOW - timedelta(hours=2), "installed_by": "Sam"}
    with Session(registry) as s:
        for device, field, reason in (
                ({"type": "teleporter", "room": "hall"}, "type", "not a device type"),
                ({"type": "motion", "room": "attic"}, "room", "kitchen"),
                ({"type": "motion"}, "room", "needs the room"),
                ({"type": "door", "room": "hall"}, "role", "entrance_door"),
                ({"type": "motion", "room": "hall", "role": "fridge"}, "role", "only contact sensors"),
                ({"type": "motion", "room": "hall", "installed_at": NOW + timedelta(days=1)}, "installed_at", "future")):
            with pytest.raises(Invalid) as err:
                devices.register_device(s, "Sam", base | device, now=NOW)
            assert reason in problems(err)[field], (device, err.value)
        with pytest.raises(Invalid) as err:
            contacts.create_responder(s, "Cat", {"name": "", "kind": "cousin"}, now=NOW)
        assert set(problems(err)) == {"name", "kind"}
        with pytest.raises(NotFound):
            residents.update_resident(s, "Cat", 9999, {"name": "x"}, version=1, now=NOW)


def test_two_editors_the_second_gets_a_conflict_and_nothing_is_lost(registry):
    ada = enrol(registry)
    # Both coordinators read version 1; the first saves; the second, still on version 1, is refused.
    with Session(registry) as s, s.begin():
        first = residents.update_resident(s, "Cat", ada.id, {"medication": "donepezil 10mg"}, version=1, now=NOW)
    with Session(registry) as s, s.begin(), pytest.raises(Conflict) as conflict:
        residents.update_resident(s, "Dev", ada.id, {"medication": "none"}, version=1, now=NOW)
    assert conflict.value.current_version == first.version == 2
    # Writers racing between their read and their write: the database's version check decides.
    with Session(registry) as slow:
        held = slow.get(Resident, ada.id)  # read, and held in the session
        assert held.version == 2
        with Session(registry) as fast, fast.begin():
            residents.update_resident(fast, "Dev", ada.id, {"allergies": "penicillin"}, version=2, now=NOW)
        with pytest.raises(Conflict):
            residents.update_resident(slow, "Cat", ada.id, {"allergies": "none known"}, version=None, now=NOW)
        slow.rollback()
    with Session(registry) as s:
        now_ = residents.get_resident(s, ada.id)
    assert (now_.medication, now_.allergies, now_.version) == ("donepezil 10mg", "penicillin", 3)
    assert [a.changes for a in audit_of(registry, "resident", ada.id)][1:] == [
        {"medication": {"old": "", "new": "donepezil 10mg"}}, {"allergies": {"old": "", "new": "penicillin"}}]
    # The same for a home's address and a device.
    with Session(registry) as s, s.begin():
        home = residents.get_resident(s, ada.id).home
        from tecwatch.registry.homes import update_home

        update_home(s, "Cat", home.id, {"address": "1a Elm Row"}, version=home.version, now=NOW)
        with pytest.raises(Conflict):
            update_home(s, "Dev", home.id, {"address": "2 Elm Row"}, version=home.version, now=NOW)


def test_devices_are_registered_tested_and_removed_with_why(registry):
    ada = enrol(registry)
    fitted = NOW - timedelta(hours=3)
    with Session(registry) as s, s.begin():
        door = devices.register_device(s, "Sam", {"home_id": ada.home_id, "type": "door", "room": "Hall",
                                                  "role": "Entrance Door", "serial": "Z-100", "installed_at": fitted,
                                                  "installed_by": "Sam the installer"}, now=NOW)
        pir = devices.register_device(s, "Sam", {"home_id": ada.home_id, "type": "motion", "room": "KITCHEN",
                                                 "serial": "Z-101", "installed_at": fitted, "installed_by": "Sam"}, now=NOW)
        twin = devices.register_device(s, "Sam", {"home_id": ada.home_id, "type": "motion", "room": "kitchen",
                                                  "serial": "Z-102", "installed_at": fitted, "installed_by": "Sam"}, now=NOW)
        assert (door.device_id, door.room, door.role.value) == ("door-hall", "hall", "entrance_door")
        assert (pir.device_id, twin.device_id) == ("motion-kitchen", "motion-kitchen-2")
        with pytest.raises(Conflict, match="Z-100 is fitted at"):
            devices.register_device(s, "Sam", {"home_id": ada.home_id, "type": "pendant", "serial": "Z-100",
                                               "installed_at": fitted, "installed_by": "Sam"}, now=NOW)
        tested = devices.record_test(s, "Sam", door.id, result="passed", tested_at=fitted + timedelta(minutes=10),
                                     notes="alarm seen at the centre", version=door.version, now=NOW)
        assert (tested.test_result.value, tested.tested_by, tested.version) == ("passed", "Sam", 2)
        moved = devices.update_device(s, "Sam", twin.id, {"room": "lounge"}, version=twin.version, now=NOW)
        assert moved.room == "lounge"
        gone = devices.remove_device(s, "Sam", pir.id, reason="faulty", removed_at=NOW, version=pir.version, now=NOW)
        assert (gone.removal_reason, gone.removed_by) == (DeviceRemovalReason.FAULTY, "Sam")
        # A removed device can be fitted again, here or elsewhere.
        again = devices.register_device(s, "Sam", {"home_id": ada.home_id, "type": "motion", "room": "bathroom",
                                                    "serial": "Z-101", "installed_at": NOW, "installed_by": "Sam"}, now=NOW)
        assert devices.find_by_serial(s, "Z-101").id == again.id
        assert [d.device_id for d in devices.list_devices(s, ada.home_id)] == [
            "door-hall", "motion-bathroom", "motion-kitchen-2"]
    assert [a.action for a in audit_of(registry, "device", door.id)] == ["create", "test"]
    assert audit_of(registry, "device", twin.id)[-1].changes == {"room": {"old": "kitchen", "new": "lounge"}}


def test_access_information_is_sealed_shown_only_to_staff_and_every_read_is_logged(registry, registry_url):
    ada = enrol(registry)
    sealer = accessinfo.Sealer(KEY)
    with Session(registry) as s, s.begin():
        status = accessinfo.set_access_info(s, sealer, "Cat", ada.home_id, {
            "key_safe_location": "behind the blue pot", "key_safe_code": CODE, "access_notes": "door sticks"},
            version=None, now=NOW)
        assert status.recorded and status.version == 1
        changed = accessinfo.set_access_info(s, sealer, "Cat", ada.home_id, {
            "key_safe_location": "behind the blue pot", "key_safe_code": "9900", "access_notes": "door sticks"},
            version=1, now=NOW)
        with pytest.raises(Conflict):
            accessinfo.set_access_info(s, sealer, "Dev", ada.home_id, {"key_safe_code": "1111"}, version=1, now=NOW)
    assert changed.version == 2
    # Nothing in the database says the code or the location: not the row, not the audit.
    with registry.connect() as conn:
        dump = " ".join(str(v) for table in ("home_access", "registry_audit")
                        for row in conn.execute(text(f"SELECT * FROM {table}")) for v in row)
    for secret in (CODE, "9900", "blue pot", "door sticks"):
        assert secret not in dump
    if registry.dialect.name == "sqlite":
        registry.dispose()
        raw = b"".join(p.read_bytes() for p in _sqlite_files(registry_url))
        assert b"9900" not in raw and b"blue pot" not in raw and b"gAAAAA" in raw
    trail = audit_of(registry, "access_info", ada.home_id)
    assert [a.changes for a in trail] == [
        {f: {"old": None, "new": "(changed)"} for f in ("key_safe_location", "key_safe_code", "access_notes")},
        {"key_safe_code": {"old": "(changed)", "new": "(changed)"}}]
    with Session(registry) as s, s.begin():
        info = accessinfo.read_access_info(s, sealer, Who("responder Ray", UserRole.RESPONDER), ada.home_id, now=NOW)
        assert (info.key_safe_code, info.key_safe_location) == ("9900", "behind the blue pot")
        for role in (UserRole.FAMILY, UserRole.COMMISSIONER):
            with pytest.raises(NotAllowed):
                accessinfo.read_access_info(s, sealer, Who("nosy", role), ada.home_id, now=NOW)
        assert accessinfo.access_info_status(s, ada.home_id).updated_by == "Cat"
    with Session(registry) as s:
        logged = s.execute(select(AccessLog.username, AccessLog.action, AccessLog.home_id)).all()
        assert logged == [("responder Ray", accessinfo.READ_ACTION, ada.home_id)]
        other = accessinfo.Sealer(base64.urlsafe_b64encode(b"another key, also 32 bytes long!").decode())
        with pytest.raises(accessinfo.AccessInfoError):
            accessinfo.read_access_info(s, other, Who("Ray", UserRole.RESPONDER), ada.home_id, now=NOW)


def _sqlite_files(url: str):
    from pathlib import Path

    path = Path(url.removeprefix("sqlite:///"))
    return [p for p in (path, Path(f"{path}-wal")) if p.exists()]


def test_contacts_in_order_with_keys_and_when_they_can_be_called(registry):
    ada = enrol(registry)
    with Session(registry) as s, s.begin():
        jo = contacts.create_responder(s, "Cat", {"name": "Jo Smith", "kind": "family", "phones": ["07700 900123"],
                                                  "routes": [{"kind": "apprise", "target": "mailto://jo@example.org"}]},
                                       now=NOW)
        ned = contacts.create_responder(s, "Cat", {"name": "Ned", "kind": "Neighbour", "phones": ["01603 222333"]},
                                        now=NOW)
        first = contacts.add_contact(s, "Cat", ada.home_id, {"responder_id": jo.id, "relation": "daughter",
                                                             "key_holder": True}, now=NOW)
        second = contacts.add_contact(s, "Cat", ada.home_id, {
            "responder_id": ned.id, "relation": "neighbour",
            "availability": [{"days": ["Mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]}, now=NOW)
        assert (first.position, second.position) == (1, 2) and first.availability == []
        with pytest.raises(Conflict):
            contacts.add_contact(s, "Cat", ada.home_id, {"responder_id": jo.id}, now=NOW)
        contacts.update_contact(s, "Cat", second.id, {"position": 0 + 1}, version=second.version, now=NOW)
        contacts.update_contact(s, "Cat", first.id, {"position": 2}, version=first.version, now=NOW)
        assert [c.responder.name for c in contacts.list_contacts(s, ada.home_id)] == ["Ned", "Jo Smith"]
        moved = contacts.update_responder(s, "Cat", jo.id, {"routes": [{"kind": "webhook", "target": "https://x.example/h"}]},
                                          version=jo.version, now=NOW)
        assert [(r.kind, r.target) for r in moved.routes] == [("webhook", "https://x.example/h")] and moved.version == 2
        ended = contacts.end_contact(s, "Cat", second.id, version=second.version + 1, now=NOW)
        assert ended.ended_at == NOW and [c.responder.name for c in contacts.list_contacts(s, ada.home_id)] == ["Jo Smith"]
    from tecwatch.registry.fields import available

    window = second.availability
    assert available(window, datetime(2026, 12, 2, 12, tzinfo=timezone.utc))  # a Wednesday noon
    assert not available(window, datetime(2026, 12, 5, 12, tzinfo=timezone.utc))  # a Saturday
    assert audit_of(registry, "responder", jo.id)[-1].changes == {"routes": {"old": ["apprise"], "new": ["webhook"]}}


def test_consent_is_recorded_with_who_and_its_withdrawal_takes_effect_at_once(registry):
    ada = enrol(registry)
    with Session(registry) as s, s.begin():
        jo = contacts.create_responder(s, "Cat", {"name": "Jo", "kind": "family"}, now=NOW)
        centre = contacts.create_responder(s, "Cat", {"name": "Centre", "kind": "operator"}, now=NOW)
        user_id = access.create_user(s, "jo", "a long family password", UserRole.FAMILY, responder_id=jo.id).id
        given = consent.grant_consent(s, "Cat", ada.id, {"responder_id": jo.id, "scope": ["status", "Alerts"],
                                                         "granted_at": NOW - timedelta(days=1)}, now=NOW)
        assert (given.recorded_by, [x.value for x in given.scope]) == ("Cat", ["status", "alerts"])
        with pytest.raises(Invalid) as wrong:
            consent.grant_consent(s, "Cat", ada.id, {"responder_id": centre.id, "scope": ["status"],
                                                     "granted_at": NOW}, now=NOW)
        assert "family" in problems(wrong)["responder_id"]
        with pytest.raises(Invalid):
            consent.grant_consent(s, "Cat", ada.id, {"responder_id": jo.id, "scope": ["bank details"], "granted_at": NOW},
                                  now=NOW)
    who = access.Principal(user_id, "jo", UserRole.FAMILY, jo.id)
    with Session(registry) as s:
        assert access.visible_resident_ids(s, who) == {ada.id}
    with Session(registry) as s, s.begin():
        gone = consent.withdraw_consent(s, "Cat", given.id, now=NOW)
        assert (gone.revoked_at, gone.revoked_by) == (NOW, "Cat")
    with Session(registry) as s:
        assert access.visible_resident_ids(s, who) == set() and access.visible_home_ids(s, who) == set()
        assert consent.consented_scope(s, ada.id, jo.id) == set()
    assert [a.action for a in audit_of(registry, "consent", given.id)] == ["grant", "withdraw"]


class Recorder:
    def __init__(self):
        self.told: list[str] = []

    def send(self, kind, target, notice) -> None:
        self.told.append(target)


def test_editing_a_chain_never_changes_an_escalation_in_progress(registry):
    ada = enrol(registry)
    clock = [NOW]
    with Session(registry) as s, s.begin():
        people = {name: contacts.create_responder(s, "Cat", {"name": name, "kind": "family", "routes": [
            {"kind": "webhook", "target": f"https://{name}.example/h"}]}, now=NOW).id for name in ("jo", "ann", "sid")}
        chain = chains.create_chain(s, "Cat", {"home_id": ada.home_id, "name": "family first", "steps": [
            {"responder_id": people["jo"], "wait_minutes": 10}, {"responder_id": people["ann"], "wait_minutes": 5}]},
            now=NOW)
    engine = AlertEngine(registry, clock=lambda: clock[0])
    sender = Recorder()
    dispatcher = Dispatcher(registry, AlertSettings(), sender, clock=lambda: clock[0])
    [first] = engine.raise_hits([RuleHit(ada.home_id, "pendant", NOW, "Pendant pressed", {}, "pendant-1")])
    dispatcher.run_once()
    # The coordinator rewrites the chain while the alert is escalating: sid instead of ann.
    with Session(registry) as s, s.begin():
        edited = chains.update_chain(s, "Cat", chain.id, {"home_id": ada.home_id, "name": "family first", "steps": [
            {"responder_id": people["sid"], "wait_minutes": 1}]}, version=chain.version, now=NOW)
        assert edited.version == 2 and [st.responder for st in edited.steps] == ["sid"]
    clock[0] = NOW + timedelta(minutes=10, seconds=1)
    dispatcher.run_once()
    assert sender.told == ["https://jo.example/h", "https://ann.example/h"]  # as the chain was when raised
    with Session(registry) as s:
        alert = s.get(Alert, first)
        assert [st["responder_id"] for st in alert.escalation_snapshot["steps"]] == [people["jo"], people["ann"]]
        assert alert.escalation_snapshot["version"] == 1
    # A new alert walks the chain as it is now.
    [second] = engine.raise_hits([RuleHit(ada.home_id, "smoke", clock[0], "Smoke", {}, "smoke-1")])
    dispatcher.run_once()
    assert sender.told[-1] == "https://sid.example/h"
    with Session(registry) as s, s.begin():
        chains.retire_chain(s, "Cat", chain.id, version=2, now=clock[0])
    [third] = engine.raise_hits([RuleHit(ada.home_id, "flood", clock[0], "Leak", {}, "leak-1")])
    with Session(registry) as s:
        assert s.get(Alert, third).chain_id is None  # retired: no longer chosen
        assert [e.kind for e in s.get(Alert, second).events][:2] == ["raised", "escalated"]
    assert [a.changes.get("steps", {}).get("new") for a in audit_of(registry, "chain", chain.id)][1] == [
        {"responder_id": people["sid"], "wait_minutes": 1}]


def test_removal_reasons_drive_the_still_at_home_report(registry):
    """Fitted over a year ago: one died, one no longer needs the service, one moved to residential
    care, one stays; devices go when the last resident of a home leaves."""
    fitted = NOW - timedelta(days=400)
    ids = {}
    with Session(registry) as s, s.begin():
        for n, who in enumerate(("died", "no_longer_needed", "residential_care", "stays")):
            r = residents.create_resident(s, "Cat", {"name": f"Person {who}", "status": "monitoring", "home": {
                "address": f"{n} Lane", "postcode": "NR1 1AA", "district": "Norwich"}}, now=fitted)
            devices.register_device(s, "Sam", {"home_id": r.home_id, "type": "pendant", "serial": f"P-{n}",
                                               "installed_at": fitted, "installed_by": "Sam"}, now=fitted)
            ids[who] = r
        for who, days in (("died", 60), ("no_longer_needed", 60), ("residential_care", 200)):
            residents.remove_resident(s, "Cat", ids[who].id, reason=who, left_at=fitted + timedelta(days=days),
                                      version=ids[who].version, now=NOW)
        with pytest.raises(Conflict):
            residents.remove_resident(s, "Cat", ids["died"].id, reason="died", left_at=NOW, version=None, now=NOW)
        with pytest.raises(Invalid):
            residents.remove_resident(s, "Cat", ids["stays"].id, reason="bored", left_at=NOW, version=None, now=NOW)
    with Session(registry) as s:
        died = s.get(Resident, ids["died"].id)
        assert (died.status, died.left_reason, died.removal_reason.value) == (
            ResidentStatus.REMOVED, LeftReason.DIED, "died")
        assert s.get(Resident, ids["no_longer_needed"].id).left_reason is LeftReason.SERVICE_ENDED
        assert [d.removal_reason for d in devices.list_devices(s, ids["died"].home_id, include_removed=True)] == [
            DeviceRemovalReason.RESIDENT_LEFT]
        assert devices.list_devices(s, ids["no_longer_needed"].home_id, include_removed=True)[0].removal_reason \
            is DeviceRemovalReason.NO_LONGER_NEEDED
        report = still_at_home(s, NOW.date())
    # 91 days after fitting, one had died; 365 days after, another had moved to residential care.
    # Someone who no longer needs the service still lives at home.
    assert (report.after_91_days.people, report.after_91_days.still_at_home) == (4, 3)
    assert (report.after_365_days.people, report.after_365_days.still_at_home) == (4, 2)


def test_erasing_an_enrolled_resident_leaves_no_detail_in_the_registry(registry, tmp_path):
    ada = enrol(registry)
    with Session(registry) as s, s.begin():
        residents.update_resident(s, "Cat", ada.id, {"medication": "donepezil"}, version=1, now=NOW)
        accessinfo.set_access_info(s, accessinfo.Sealer(KEY), "Cat", ada.home_id, {"key_safe_code": CODE},
                                   version=None, now=NOW)
        jo = contacts.create_responder(s, "Cat", {"name": "Jo", "kind": "family"}, now=NOW)
        contacts.add_contact(s, "Cat", ada.home_id, {"responder_id": jo.id, "key_holder": True}, now=NOW)
        residents.remove_resident(s, "Cat", ada.id, reason="moved_away", left_at=NOW, version=None, now=NOW)
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        with Session(registry) as s, s.begin():
            erasure.erase_resident(s, store, ada.id, now=NOW)
    finally:
        store.close()
    with registry.connect() as conn:
        dump = " ".join(str(v) for table in ("residents", "homes", "registry_audit", "home_access", "home_contacts")
                        for row in conn.execute(text(f"SELECT * FROM {table}")) for v in row)
    for detail in ("Lovelace", "9434765919", "NCC-1", "NR3 1AB", "Elm Row", "donepezil", "+441603123456", ada.home_id):
        assert detail not in dump, detail
    with Session(registry) as s:
        assert s.scalars(select(HomeAccess)).all() == [] and s.scalars(select(HomeContact)).all() == []
        gone = s.get(Resident, ada.id)
        assert (gone.removal_reason.value, gone.left_reason) == ("moved_away", LeftReason.MOVED_AWAY)
        assert all(set(v) == {"old", "new"} for a in s.scalars(select(AuditEntry)) for v in a.changes.values())
        assert s.scalars(select(FamilyConsent)).all() == [] and s.scalars(select(AlertEvent)).all() == []


def test_escalation_chains_are_validated_and_listed_by_time_of_day(registry):
    ada = enrol(registry)
    with Session(registry) as s, s.begin():
        desk = contacts.create_responder(s, "Cat", {"name": "Desk", "kind": "operator"}, now=NOW)
        with pytest.raises(Invalid) as err:
            chains.create_chain(s, "Cat", {"home_id": ada.home_id, "name": "x", "active_from": "22:00",
                                           "steps": [{"responder_id": desk.id}]}, now=NOW)
        assert "active_until" in str(err.value)
        with pytest.raises(Invalid) as err:
            chains.create_chain(s, "Cat", {"home_id": ada.home_id, "name": "x", "steps": [{"responder_id": 999}]},
                                now=NOW)
        assert "steps.0.responder_id" in problems(err)
        chains.create_chain(s, "Cat", {"home_id": ada.home_id, "name": "night", "active_from": "22:00",
                                       "active_until": "08:00", "steps": [{"responder_id": desk.id}]}, now=NOW)
        chains.create_chain(s, "Cat", {"home_id": ada.home_id, "name": "all day", "steps": [{"responder_id": desk.id}]},
                            now=NOW)
        county = chains.create_chain(s, "Cat", {"name": "county", "steps": [{"responder_id": desk.id}]}, now=NOW)
        assert [c.name for c in chains.list_chains(s, ada.home_id)] == ["all day", "night"]
        assert [c.id for c in chains.list_chains(s, None)] == [county.id]
        from tecwatch.alerts.escalation import choose_chain

        assert choose_chain(s, ada.home_id, NOW.replace(hour=23), "Europe/London").name == "night"
        assert choose_chain(s, ada.home_id, NOW.replace(hour=12), "Europe/London").name == "all day"
        assert choose_chain(s, ada.home_id, NOW.replace(hour=12), "Europe/London").active_from is None
        assert time(22) == chains.list_chains(s, ada.home_id)[1].active_from
