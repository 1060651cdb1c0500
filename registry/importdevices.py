"""The devices and contacts imports. Rows go through the device and contact services' own field
types and checks (``registry/devices.py``, ``registry/contacts.py``); a device's key is its
serial, a contact's its resident and name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import audit_row, created, plain
from tecwatch.registry.devices import DEVICE_ID_PATTERN, DevicePlace, make_device_id, placement_problems
from tecwatch.registry.fields import DeviceType, Input, Name, Phone, When, parse_windows, vocab
from tecwatch.registry.imports import (
    Columns, Errors, ImportReport, changes_of, diff_values, fetch, insert_many, model_input, read_rows, update_many,
    validate,
)
from tecwatch.registry.models import Device, Home, Resident, Responder
from tecwatch.registry.records import AuditEntry, HomeContact
from tecwatch.registry.vocab import DeviceRemovalReason, ResponderKind, TestResult

DEVICE_COLUMNS = Columns(
    required=("serial", "type", "installed_at"),
    optional=("resident_ref", "home_id", "device_id", "room", "role", "installed_by", "tested_at", "tested_by",
              "test_result", "removed_at", "removal_reason"),
    times=("installed_at", "tested_at", "removed_at"),
)
CONTACT_COLUMNS = Columns(
    required=("resident_ref", "name"),
    optional=("kind", "relation", "phones", "position", "key_holder", "available"),
    lists=("phones",),
)
SHARED_KINDS = (ResponderKind.MOBILE, ResponderKind.OPERATOR)  # services that serve many homes


class DeviceRow(DevicePlace):
    serial: str = Field(min_length=1, max_length=64)
    type: DeviceType
    resident_ref: str | None = None
    home_id: str | None = None
    device_id: str | None = Field(None, pattern=DEVICE_ID_PATTERN)
    installed_at: When
    installed_by: str = Field("", max_length=200)
    tested_at: When | None = None
    tested_by: str | None = Field(None, max_length=200)
    test_result: vocab(TestResult) | None = None  # type: ignore[valid-type]
    removed_at: When | None = None
    removal_reason: vocab(DeviceRemovalReason) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _consistent(self) -> DeviceRow:
        if (self.resident_ref is None) == (self.home_id is None):
            raise ValueError("give resident_ref (the resident's council_ref) or home_id, not both")
        if (self.tested_at is None) != (self.test_result is None):
            raise ValueError("tested_at and test_result go together")
        if (self.removed_at is None) != (self.removal_reason is None):
            raise ValueError("removed_at and removal_reason go together")
        return self


class ContactRow(Input):
    resident_ref: str = Field(min_length=1, max_length=40)
    name: Name
    kind: vocab(ResponderKind) = ResponderKind.FAMILY  # type: ignore[valid-type]
    relation: str = Field("", max_length=60)
    phones: list[Phone] = Field(default_factory=list, max_length=5)
    position: int | None = Field(None, ge=1, le=100)
    key_holder: bool = False
    available: str = ""  # "any", or "mon-fri 09:00-17:00; sat 10:00-12:00"


def _homes_of(session: Session, refs: set[str]) -> dict[str, str]:
    return dict(fetch(session, lambda part: select(Resident.council_ref, Resident.home_id)
                      .where(Resident.council_ref.in_(part)), refs))


def _finish(report: ImportReport, errors: Errors) -> ImportReport | None:
    if errors.items:
        report.errors = sorted(errors.items, key=lambda e: e.line)
        return report
    return None


def import_devices(session: Session, text: str, *, actor: str, now: datetime, dry_run: bool) -> ImportReport:
    errors = Errors()
    rows = read_rows(text, DEVICE_COLUMNS, errors)
    parsed = []
    for row in rows:
        data = model_input(row, DEVICE_COLUMNS, errors)
        item = validate(DeviceRow, data, row.line, errors) if data is not None else None
        if item is None:
            continue
        problems = placement_problems(item.type, item.room, item.role)
        for column, when in (("installed_at", item.installed_at), ("tested_at", item.tested_at),
                             ("removed_at", item.removed_at)):
            if when is not None and when > now:
                problems.append((column, "is in the future"))
            elif when is not None and when < item.installed_at:
                problems.append((column, "is before installed_at"))
        for column, reason in problems:
            errors.add(row.line, column, reason)
        parsed.append((row, item))
    report = ImportReport(kind="devices", rows=len(rows), dry_run=dry_run)
    homes_by_ref = _homes_of(session, {i.resident_ref for _, i in parsed if i.resident_ref})
    known_homes = {h for (h,) in fetch(session, lambda part: select(Home.id).where(Home.id.in_(part)),
                                       {i.home_id for _, i in parsed if i.home_id})}
    table = Device.__table__
    latest: dict[str, dict[str, Any]] = {}
    for d in fetch(session, lambda part: select(table).where(table.c.serial.in_(part)), {i.serial for _, i in parsed}):
        current = latest.get(d.serial)
        # The fitted device with this serial, else the last one removed.
        if current is None or (current["removed_at"] is not None and (d.removed_at is None or d.id > current["id"])):
            latest[d.serial] = d._asdict()
    first_line: dict[str, int] = {}
    plan = []
    for row, item in parsed:
        if item.serial in first_line:
            errors.add(row.line, "serial", f"appears again (first on line {first_line[item.serial]})")
            continue
        first_line[item.serial] = row.line
        home_id = homes_by_ref.get(item.resident_ref) if item.resident_ref else item.home_id
        if home_id is None or (item.home_id and item.home_id not in known_homes):
            column = "resident_ref" if item.resident_ref else "home_id"
            errors.add(row.line, column, "no resident has this council_ref (import residents first)"
                       if item.resident_ref else "there is no such home")
            continue
        old = latest.get(item.serial)
        if old is not None and old["home_id"] != home_id:
            if old["removed_at"] is None:
                errors.add(row.line, "serial", f"is fitted at {old['home_id']} ({old['device_id']}); remove it there first")
                continue
            old = None  # fitted again elsewhere after its removal: a new installation
        plan.append((row, item, home_id, old))
    taken: dict[str, dict[str, int]] = {}
    for h, device_id, pk in fetch(session, lambda part: select(table.c.home_id, table.c.device_id, table.c.id)
                                  .where(table.c.home_id.in_(part)), {p[2] for p in plan}):
        taken.setdefault(h, {})[device_id] = pk
    for row, item, home_id, old in plan:
        owner = taken.get(home_id, {}).get(item.device_id) if item.device_id else None
        if owner is not None and (old is None or owner != old["id"]):
            errors.add(row.line, "device_id", f"{home_id} already has another device {item.device_id!r}")
    if (done := _finish(report, errors)) is not None:
        return done

    inserts, updates, audits = [], [], []
    for _row, item, home_id, old in plan:
        values = {"type": item.type, "serial": item.serial, "room": item.room.value if item.room else None,
                  "role": item.role, "installed_at": item.installed_at, "installed_by": item.installed_by or actor[:200],
                  "tested_at": item.tested_at, "test_result": item.test_result, "removed_at": item.removed_at,
                  "removal_reason": item.removal_reason,
                  "tested_by": (item.tested_by or item.installed_by or actor[:200]) if item.tested_at else None}
        if old is None:
            names = taken.setdefault(home_id, {})
            device_id = item.device_id or make_device_id(item.type, item.room, set(names))
            names[device_id] = 0
            inserts.append(values | {"home_id": home_id, "device_id": device_id, "version": 1, "test_notes": "",
                                     "removed_by": actor[:200] if item.removed_at else None})
            report.created += 1
            continue
        if item.device_id:
            values["device_id"] = item.device_id
        change = diff_values(old, values)
        if change.get("removed_at") is not None:
            change["removed_by"] = actor[:200]
        if change:
            updates.append((old["id"], old["version"], change))
            audits.append(audit_row(actor, "update", "device", old["id"], changes_of(old, change), now, home_id=home_id))
            report.updated += 1
        else:
            report.unchanged += 1
    if dry_run or not (inserts or updates):
        return report
    ids = insert_many(session, table, inserts, returning=True)
    audits += [audit_row(actor, "create", "device", pk, created({k: v for k, v in d.items() if k != "version"}), now,
                         home_id=d["home_id"]) for pk, d in zip(ids, inserts, strict=True)]
    update_many(session, table, updates)
    insert_many(session, AuditEntry.__table__, audits)
    report.written = True
    return report


def import_contacts(session: Session, text: str, *, actor: str, now: datetime, dry_run: bool) -> ImportReport:
    errors = Errors()
    rows = read_rows(text, CONTACT_COLUMNS, errors)
    parsed = []
    for row in rows:
        data = model_input(row, CONTACT_COLUMNS, errors)
        item = validate(ContactRow, data, row.line, errors) if data is not None else None
        if item is None:
            continue
        try:
            windows = plain(parse_windows(item.available))
        except ValueError as err:
            errors.add(row.line, "available", str(err))
            continue
        parsed.append((row, item, windows))
    report = ImportReport(kind="contacts", rows=len(rows), dry_run=dry_run)
    homes_by_ref = _homes_of(session, {i.resident_ref for _, i, _ in parsed})
    ct, rt = HomeContact.__table__, Responder.__table__
    existing: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    last_position: dict[str, int] = {}
    for r in fetch(session, lambda part: select(ct, rt.c.name, rt.c.kind, rt.c.phones, rt.c.version.label("r_version"))
                   .join(rt, rt.c.id == ct.c.responder_id).where(ct.c.home_id.in_(part)), set(homes_by_ref.values())):
        contact = r._asdict()
        existing[(r.home_id, r.name.lower())] = (contact, {"id": r.responder_id, "kind": r.kind, "phones": r.phones,
                                                           "version": r.r_version})
        if r.ended_at is None:
            last_position[r.home_id] = max(last_position.get(r.home_id, 0), r.position)
    shared = {(r.kind, r.name.lower()): r.id for r in session.execute(
        select(rt.c.id, rt.c.kind, rt.c.name).where(rt.c.kind.in_(SHARED_KINDS), rt.c.active.is_(True))
        .where(func.lower(rt.c.name).in_({i.name.lower() for _, i, _ in parsed})))}
    first_line: dict[tuple[str, str], int] = {}
    plan = []
    for row, item, windows in parsed:
        home_id = homes_by_ref.get(item.resident_ref)
        if home_id is None:
            errors.add(row.line, "resident_ref", "no resident has this council_ref (import residents first)")
            continue
        key = (home_id, item.name.lower())
        if key in first_line:
            errors.add(row.line, "name", f"is already a contact for this home on line {first_line[key]}")
            continue
        first_line[key] = row.line
        old = existing.get(key)
        if old is not None and (old[1]["kind"] in SHARED_KINDS) != (item.kind in SHARED_KINDS):
            errors.add(row.line, "kind", f"{item.name} is recorded as {old[1]['kind'].value}")
            continue
        plan.append((item, windows, home_id, old))
    if (done := _finish(report, errors)) is not None:
        return done

    new_people: list[dict[str, Any]] = []
    new_shared: dict[tuple[ResponderKind, str], int] = {}
    new_contacts: list[tuple[dict[str, Any], int | tuple]] = []  # a responder id, or ("new", index)
    contact_updates, responder_updates, audits = [], [], []
    for item, windows, home_id, old in plan:
        fields = {"relation": item.relation, "key_holder": item.key_holder, "availability": windows}
        if old is None:
            last_position[home_id] = position = item.position or last_position.get(home_id, 0) + 1
            values = fields | {"home_id": home_id, "position": position, "created_at": now, "version": 1}
            if item.kind in SHARED_KINDS:
                key = (item.kind, item.name.lower())
                if key not in shared and key not in new_shared:
                    new_shared[key] = len(new_people)
                    new_people.append({"name": item.name, "kind": item.kind, "phones": list(item.phones),
                                       "active": True, "version": 1})
                ref = shared[key] if key in shared else ("new", new_shared[key])
            else:
                ref = ("new", len(new_people))
                new_people.append({"name": item.name, "kind": item.kind, "phones": list(item.phones), "active": True,
                                   "version": 1})
            new_contacts.append((values, ref))
            report.created += 1
            continue
        contact, responder = old
        change = diff_values(contact, fields | {"ended_at": None} | ({"position": item.position} if item.position else {}))
        who = diff_values(responder, {"phones": list(item.phones), "kind": item.kind}) \
            if item.kind not in SHARED_KINDS else {}
        if change:
            contact_updates.append((contact["id"], contact["version"], change))
            audits.append(audit_row(actor, "update", "contact", contact["id"], changes_of(contact, change), now,
                                    home_id=home_id))
        if who:
            responder_updates.append((responder["id"], responder["version"], who))
            audits.append(audit_row(actor, "update", "responder", responder["id"], changes_of(responder, who), now))
        report.updated += bool(change or who)
        report.unchanged += not (change or who)
    if dry_run or not (new_contacts or contact_updates or responder_updates):
        return report
    people_ids = insert_many(session, rt, new_people, returning=True)
    audits += [audit_row(actor, "create", "responder", pk, created({k: p[k] for k in ("name", "kind", "phones")}), now)
               for pk, p in zip(people_ids, new_people, strict=True)]
    contacts = [values | {"responder_id": people_ids[ref[1]] if isinstance(ref, tuple) else ref}
                for values, ref in new_contacts]
    contact_ids = insert_many(session, ct, contacts, returning=True)
    audits += [audit_row(actor, "create", "contact", pk, created({k: v for k, v in c.items()
                                                                    if k not in ("version", "created_at", "home_id")}),
                         now, home_id=c["home_id"]) for pk, c in zip(contact_ids, contacts, strict=True)]
    update_many(session, ct, contact_updates)
    update_many(session, rt, responder_updates)
    insert_many(session, AuditEntry.__table__, audits)
    report.written = True
    return report
