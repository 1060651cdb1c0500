"""Importing residents, devices and contacts from CSV (SQLite and PostgreSQL): one transaction,
idempotent, every bad row listed with its line, field and reason, and nothing half-imported."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.registry import contacts, devices, residents
from tecwatch.registry.imports import import_csv
from tecwatch.registry.models import Device, Home, Resident, Responder
from tecwatch.registry.records import AuditEntry, HomeContact

from support import run_tecwatch

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
RESIDENTS = """council_ref,name,preferred_name,nhs_number,date_of_birth,phones,address,postcode,district,home_id,risks,communication_needs,primary_need,status,removal_reason,left_on
R-1,Arthur Fenn,Arthur,943 476 5919,1940-02-03,01603 111222;07700 900111,1 Elm Row,nr3 1ab,Norwich,,lives alone;Pets,Hard of hearing,dementia,,,
R-2,Beryl Hart,,,1936-07-08,,2 Oak Lane,IP25 6AB,Breckland,hart-home,,,frailty,monitoring,,
R-3,Cyril Hart,,,1934-01-01,,2 Oak Lane,IP25 6AB,Breckland,hart-home,,,frailty,,,
R-4,Doris Page,,,1930-05-05,,4 Ash Close,NR27 9AB,North Norfolk,,,,other,removed,died,2026-10-01
"""
DEVICES = """serial,resident_ref,home_id,device_id,type,room,role,installed_at,installed_by,tested_at,test_result
S-1,R-1,,,motion,Kitchen,,2026-03-01,Sam,2026-03-01T10:30,passed
S-2,R-1,,,motion,kitchen,,2026-03-01,Sam,,
S-3,R-1,,door-front,door,Hall,Entrance door,2026-03-01,Sam,,
S-4,,hart-home,,pendant,,,2026-04-01T09:00+01:00,Sam,,
"""
CONTACTS = """resident_ref,name,kind,relation,phones,position,key_holder,available
R-1,Jo Fenn,family,daughter,07700 900222,1,yes,mon-fri 09:00-17:00; sat 10:00-12:00
R-1,County Responders,mobile,,,2,no,any
R-2,County Responders,mobile,,,1,no,
"""


def run(engine, kind: str, text: str, dry_run: bool = False):
    with Session(engine) as s, s.begin():
        return import_csv(s, kind, text, actor="import (test)", now=NOW, dry_run=dry_run)


def counts(engine) -> tuple[int, ...]:
    with Session(engine) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Home, Resident, Device, Responder,
                                                                             HomeContact, AuditEntry))


def test_residents_import_once_and_a_rerun_changes_nothing(registry):
    dry = run(registry, "residents", RESIDENTS, dry_run=True)
    assert (dry.created, dry.written, dry.errors) == (4, False, [])
    assert counts(registry) == (0, 0, 0, 0, 0, 0)
    first = run(registry, "residents", RESIDENTS)
    assert (first.created, first.updated, first.unchanged, first.written) == (4, 0, 0, True)
    assert counts(registry) == (3, 4, 0, 0, 0, 3 + 4)  # the Harts share a home; an audit row each
    again = run(registry, "residents", RESIDENTS)
    assert (again.created, again.updated, again.unchanged, again.written) == (0, 0, 4, False)
    assert "nothing changed" in again.summary()
    assert counts(registry) == (3, 4, 0, 0, 0, 7)
    with Session(registry) as s:
        page = residents.search_residents(s, council_ref="R-1").items
        arthur = residents.get_resident(s, page[0].id)
        assert (arthur.nhs_number, arthur.phones, arthur.risks) == ("9434765919", ["+441603111222", "+447700900111"],
                                                                    ["lives_alone", "pets"])
        assert (arthur.home.postcode, arthur.home.postcode_area, arthur.dob_band) == ("NR3 1AB", "NR3", "85-89")
        assert arthur.status.value == "monitoring"  # people moving from another system are monitored already
        doris = s.scalar(select(Resident).where(Resident.council_ref == "R-4"))
        assert (doris.removal_reason.value, doris.left_reason.value) == ("died", "died")
        assert {r.home_id for r in s.scalars(select(Resident).where(Resident.name.like("% Hart")))} == {"hart-home"}
    # A changed file updates what changed, audited with old and new values.
    changed = run(registry, "residents", RESIDENTS.replace("1 Elm Row", "1a Elm Row").replace("Beryl Hart,,", "Beryl Hart,Bee,"))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 2, 2)
    with Session(registry) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "update").order_by(AuditEntry.id)).all()
        assert sorted((a.entity, tuple(a.changes)) for a in rows) == [("home", ("address",)), ("resident", ("preferred_name",))]
        assert rows[0].actor == "import (test)" and {"old": "1 Elm Row", "new": "1a Elm Row"} in [
            a.changes.get("address") for a in rows]


def test_a_file_with_five_bad_rows_imports_nothing_and_lists_them(registry):
    bad = RESIDENTS + "\n".join([
        "R-5,Edna Reed,,943 476 5918,1941-01-01,,5 Fir Way,NR1 1AA,Norwich,,,,,,,",  # NHS check digit
        "R-6,Frank Shaw,,,2030-01-01,,6 Fir Way,NR1 1AA,Norwich,,,,,,,",  # born in the future
        "R-7,Gladys Tate,,,1939-01-01,,7 Fir Way,NOT A CODE,Norwich,,,,,,,",  # postcode
        "R-1,Harold Vine,,,1939-01-01,,8 Fir Way,NR1 1AA,Norwich,,,,,,,",  # council_ref twice
        "R-9,Irene Wells,,,1939-01-01,,9 Fir Way,NR1 1AA,Norwich,,,,telepathy,,,",  # not a primary need
    ]) + "\n"
    report = run(registry, "residents", bad)
    assert report.written is False and report.created == 0
    assert [str(e) for e in report.errors] == [
        "line 6: nhs_number: not a valid NHS number (its check digit is wrong)",
        "line 7: date_of_birth: is in the future",
        "line 8: postcode: not a UK postcode (e.g. NR3 1AB)",
        "line 9: council_ref: appears again (first on line 2)",
        "line 10: primary_need: 'telepathy' is not one of: dementia, frailty, learning_disability, physical_disability, "
        "mental_health, sensory_impairment, other",
    ]
    assert "5 of 9 rows are wrong; nothing was imported" in report.summary()
    assert counts(registry) == (0, 0, 0, 0, 0, 0)
    header = run(registry, "residents", "council_ref,name,colour\nR-1,A,blue\n")
    assert [str(e) for e in header.errors] == [
        "line 1: colour: not a column of this import (see docs/import.md)", "line 1: address: this column is required",
        "line 1: postcode: this column is required", "line 1: district: this column is required"]


def test_devices_and_contacts_import_and_rerun(registry):
    run(registry, "residents", RESIDENTS)
    first = run(registry, "devices", DEVICES)
    assert (first.created, first.errors) == (4, [])
    assert run(registry, "devices", DEVICES).unchanged == 4
    with Session(registry) as s:
        arthur = s.scalar(select(Resident).where(Resident.council_ref == "R-1"))
        found = {d.serial: d for d in devices.list_devices(s, arthur.home_id)}
        assert (found["S-1"].device_id, found["S-2"].device_id, found["S-3"].device_id) == (
            "motion-kitchen", "motion-kitchen-2", "door-front")
        assert (found["S-3"].role.value, found["S-1"].test_result.value, found["S-1"].tested_by) == (
            "entrance_door", "passed", "Sam")
        assert found["S-1"].installed_at == datetime(2026, 3, 1, tzinfo=timezone.utc)  # midnight in London (GMT)
        pendant = devices.find_by_serial(s, "S-4")
        assert (pendant.home_id, pendant.room, pendant.installed_at) == (
            "hart-home", None, datetime(2026, 4, 1, 8, tzinfo=timezone.utc))
    moved = run(registry, "devices", DEVICES.replace("S-2,R-1,,,motion,kitchen", "S-2,R-1,,,motion,lounge"))
    assert (moved.updated, moved.unchanged) == (1, 3)
    wrong = run(registry, "devices", "serial,resident_ref,type,room,role,installed_at\n"
                                     "S-9,R-404,motion,hall,,2026-03-01\nS-8,R-1,door,hall,,2026-03-01\n"
                                     "S-4,R-1,pendant,,,2026-03-01\n")
    assert [str(e) for e in wrong.errors] == [
        "line 2: resident_ref: no resident has this council_ref (import residents first)",
        "line 3: role: say what the contact sensor is fitted to: entrance_door, back_door, internal_door, fridge, "
        "cupboard, medicine_cabinet",
        "line 4: serial: is fitted at hart-home (pendant); remove it there first"]

    made = run(registry, "contacts", CONTACTS)
    assert (made.created, made.errors) == (3, [])
    assert run(registry, "contacts", CONTACTS).unchanged == 3
    with Session(registry) as s:
        people = contacts.list_contacts(s, arthur.home_id)
        assert [(c.responder.name, c.position, c.key_holder) for c in people] == [
            ("Jo Fenn", 1, True), ("County Responders", 2, False)]
        assert people[0].availability[1] == {"days": ["sat"], "start": "10:00:00", "end": "12:00:00"}
        assert people[0].responder.phones == ["+447700900222"] and people[1].availability == []
        # One mobile responder service for both homes, not one each.
        assert s.scalar(select(func.count()).select_from(Responder).where(Responder.name == "County Responders")) == 1
    again = run(registry, "contacts", CONTACTS.replace("07700 900222", "07700 900333"))
    assert (again.updated, again.unchanged) == (1, 2)
    bad = run(registry, "contacts", "resident_ref,name,available\nR-1,Ned,weekends\nR-1,Jo Fenn,\nR-1,jo fenn,\n")
    assert [str(e) for e in bad.errors] == ["line 2: available: 'weekends' is not a window like 'mon-fri 09:00-17:00'",
                                            "line 4: name: is already a contact for this home on line 3"]


def test_the_import_command(registry_url, registry, tmp_path):
    good, bad = tmp_path / "residents.csv", tmp_path / "bad.csv"
    good.write_text(RESIDENTS)
    bad.write_text(RESIDENTS.replace("nr3 1ab", "nowhere"))
    env = {"TECWATCH_REGISTRY__URL": registry_url, "TECWATCH_DATA_DIR": str(tmp_path / "data")}
    dry = run_tecwatch(["import", "residents", str(good), "--dry-run"], tmp_path, env)
    assert dry.returncode == 0 and "a dry run, so nothing was written (4 created" in dry.stdout, dry.stderr
    refused = run_tecwatch(["import", "residents", str(bad)], tmp_path, env)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == ["line 2: postcode: not a UK postcode (e.g. NR3 1AB)",
                                           "residents: 1 of 4 rows are wrong; nothing was imported"]
    assert counts(registry)[:2] == (0, 0)
    done = run_tecwatch(["import", "residents", str(good), "--as", "Cat (TEC team)"], tmp_path, env)
    assert done.returncode == 0 and "4 created, 0 updated, 0 unchanged" in done.stdout
    again = run_tecwatch(["import", "residents", str(good)], tmp_path, env)
    assert again.returncode == 0 and "all as already recorded: nothing changed" in again.stdout
    with Session(registry) as s:
        assert set(s.scalars(select(AuditEntry.actor))) == {"Cat (TEC team)"}
