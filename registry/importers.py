"""The residents import (with their homes), and the table of importers by kind. Rows go through
the residents service's own input model and value mapping (``registry/residents.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import audit_row, created
from tecwatch.registry.fields import When, vocab
from tecwatch.registry.importdevices import import_contacts, import_devices
from tecwatch.registry.homes import HOME_ID_PATTERN, HomeFields, home_values, new_home_id
from tecwatch.registry.imports import (
    Columns, Errors, ImportReport, Row, changes_of, diff_values, fetch, insert_many, model_input, read_rows,
    update_many, validate,
)
from tecwatch.registry.models import Home, Resident
from tecwatch.registry.records import AuditEntry
from tecwatch.registry.residents import ResidentFields, future_dates, local_today, resident_values
from tecwatch.registry.vocab import LEFT_REASON, RemovalReason, ResidentStatus

HOME_COLUMNS = ("home_id", "address", "postcode", "district", "uprn")
RESIDENT_COLUMNS = Columns(
    required=("council_ref", "name", "address", "postcode", "district"),
    optional=("home_id", "uprn", "preferred_name", "nhs_number", "date_of_birth", "phones", "language",
              "communication_needs", "conditions", "medication", "allergies", "mobility", "risks", "gp_practice",
              "primary_need", "referral_source", "referral_date", "status", "next_review_on", "removal_reason",
              "left_on"),
    lists=("phones", "communication_needs", "risks"),
    times=("left_on",),
)


class ResidentRow(ResidentFields):
    council_ref: str = Field(min_length=1, max_length=40)
    # People moving from another system are usually monitored already.
    status: vocab(ResidentStatus) = ResidentStatus.MONITORING  # type: ignore[valid-type]
    removal_reason: vocab(RemovalReason) | None = None  # type: ignore[valid-type]
    left_on: When | None = None

    @model_validator(mode="after")
    def _removal(self) -> ResidentRow:
        removed = self.status is ResidentStatus.REMOVED
        if removed != (self.removal_reason is not None) or removed != (self.left_on is not None):
            raise ValueError("status removed goes with removal_reason and left_on, and only then")
        return self


class HomeRow(HomeFields):
    home_id: str | None = Field(None, pattern=HOME_ID_PATTERN)


def _values(row: ResidentRow, today) -> dict[str, Any]:
    return resident_values(row, today) | {
        "status": row.status, "left_at": row.left_on,
        "left_reason": LEFT_REASON[row.removal_reason] if row.removal_reason else None,
        "removal_reason": row.removal_reason}


def import_residents(session: Session, text: str, *, actor: str, now: datetime, dry_run: bool) -> ImportReport:
    errors = Errors()
    rows = read_rows(text, RESIDENT_COLUMNS, errors)
    today = local_today(now)
    parsed: list[tuple[Row, ResidentRow, HomeRow]] = []
    for row in rows:
        data = model_input(row, RESIDENT_COLUMNS, errors)
        if data is None:
            continue
        person = validate(ResidentRow, {k: v for k, v in data.items() if k not in HOME_COLUMNS}, row.line, errors)
        home = validate(HomeRow, {k: v for k, v in data.items() if k in HOME_COLUMNS}, row.line, errors)
        if person is None or home is None:
            continue
        for where, reason in future_dates(person, today) + ([("left_on", "is in the future")]
                                                            if person.left_on and person.left_on > now else []):
            errors.add(row.line, where, reason)
        parsed.append((row, person, home))
    report = ImportReport(kind="residents", rows=len(rows), dry_run=dry_run)
    seen_ref: dict[str, int] = {}
    seen_nhs: dict[str, int] = {}
    for row, person, _ in parsed:
        for column, key, seen in (("council_ref", person.council_ref, seen_ref), ("nhs_number", person.nhs_number, seen_nhs)):
            if key is not None and key in seen:
                errors.add(row.line, column, f"appears again (first on line {seen[key]})")
            elif key is not None:
                seen[key] = row.line

    table, homes_table = Resident.__table__, Home.__table__
    existing = {r.council_ref: r._asdict() for r in fetch(
        session, lambda part: select(table).where(table.c.council_ref.in_(part)), seen_ref)}
    nhs_owner = dict(fetch(session, lambda part: select(table.c.nhs_number, table.c.council_ref)
                           .where(table.c.nhs_number.in_(part)), seen_nhs))
    home_ids = {r["home_id"] for r in existing.values()} | {h.home_id for _, _, h in parsed if h.home_id}
    homes = {h.id: h._asdict() for h in fetch(session, lambda part: select(homes_table).where(homes_table.c.id.in_(part)),
                                              home_ids)}
    wanted_home: dict[str, tuple[int, dict[str, Any]]] = {}  # home id -> (first line, its values in the file)
    plan = []
    for row, person, home in parsed:
        old = existing.get(person.council_ref)
        if person.nhs_number in nhs_owner and nhs_owner[person.nhs_number] != person.council_ref:
            owner = nhs_owner[person.nhs_number]
            errors.add(row.line, "nhs_number", "another resident already has it"
                       + (f" (council_ref {owner})" if owner else ""))
        home_id = home.home_id
        if old is not None and home_id is not None and home_id != old["home_id"]:
            errors.add(row.line, "home_id", f"this resident lives at {old['home_id']}: moving home is not done by import")
            continue
        home_id = home_id or (old["home_id"] if old else None)
        values = home_values(home)
        if home_id is not None:
            if home_id in wanted_home and wanted_home[home_id][1] != values:
                errors.add(row.line, "address", f"home {home_id} has another address on line {wanted_home[home_id][0]}")
                continue
            wanted_home.setdefault(home_id, (row.line, values))
        plan.append((row, person, old, home_id, values))
    if errors.items:
        report.errors = sorted(errors.items, key=lambda e: e.line)
        return report

    new_homes, home_updates, audits = [], [], []
    for home_id, (_line, values) in wanted_home.items():
        if home_id in homes:
            change = diff_values(homes[home_id], values)
            if change:
                home_updates.append((home_id, homes[home_id]["version"], change))
                audits.append(audit_row(actor, "update", "home", home_id, changes_of(homes[home_id], change), now,
                                        home_id=home_id))
        else:
            new_homes.append({"id": home_id, "created_at": now, "version": 1} | values)
    new_people, people_updates = [], []
    for row, person, old, home_id, home_vals in plan:
        values = _values(person, today) | {"council_ref": person.council_ref}
        if old is None:
            if home_id is None:  # a home of its own, with a new id
                home_id = new_home_id(session)
                while any(h["id"] == home_id for h in new_homes):
                    home_id = new_home_id(session)
                new_homes.append({"id": home_id, "created_at": now, "version": 1} | home_vals)
            new_people.append({"home_id": home_id, "version": 1} | values)
            report.created += 1
            continue
        change = diff_values(old, values)
        if change:
            people_updates.append((old["id"], old["version"], change))
            audits.append(audit_row(actor, "update", "resident", old["id"], changes_of(old, change), now,
                                    home_id=old["home_id"], resident_id=old["id"]))
        if change or any(u[0] == old["home_id"] for u in home_updates):
            report.updated += 1
        else:
            report.unchanged += 1
    if dry_run or not (new_homes or home_updates or new_people or people_updates):
        return report
    insert_many(session, homes_table, new_homes)
    audits += [audit_row(actor, "create", "home", h["id"], created({k: v for k, v in h.items()
                                                                      if k not in ("id", "created_at", "version")}),
                         now, home_id=h["id"]) for h in new_homes]
    update_many(session, homes_table, home_updates)
    ids = insert_many(session, table, new_people, returning=True)
    audits += [audit_row(actor, "create", "resident", rid, created({k: v for k, v in p.items() if k != "version"}),
                         now, home_id=p["home_id"], resident_id=rid) for rid, p in zip(ids, new_people, strict=True)]
    update_many(session, table, people_updates)
    insert_many(session, AuditEntry.__table__, audits)
    report.written = True
    return report


IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "residents": import_residents, "devices": import_devices, "contacts": import_contacts}
