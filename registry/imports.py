"""Importing residents, devices and contacts from CSV files (councils moving from another system).

Every row is validated with the same input models and checks as the services use; a file with
any bad row writes nothing and every bad row is reported (``line N: field: reason``). Each row
has a natural key (a resident's ``council_ref``, a device's ``serial``, a contact's resident and
name), so running the same file again changes nothing. A good file is written in bulk in the
caller's transaction, with an audit row for each record created or changed. The columns are
documented in docs/import.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from tecwatch.registry.changes import plain, problems_of
from tecwatch.registry.fields import parse_when

Kind = Literal["residents", "devices", "contacts"]
KINDS: tuple[Kind, ...] = ("residents", "devices", "contacts")
M = TypeVar("M", bound=BaseModel)
CHUNK = 1000  # keys per IN (...) query: well inside every database's parameter limit


class RowError(BaseModel):
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class ImportReport(BaseModel):
    kind: str
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = []
    dry_run: bool = False
    written: bool = False  # False: nothing was written (errors, a dry run, or nothing to change)

    def summary(self) -> str:
        if self.errors:
            bad = len({e.line for e in self.errors})
            return f"{self.kind}: {bad} of {self.rows} rows are wrong; nothing was imported"
        counts = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.dry_run:
            return f"{self.kind}: {self.rows} rows are good; a dry run, so nothing was written ({counts} if run)"
        if not self.created and not self.updated:
            return f"{self.kind}: {self.rows} rows, all as already recorded: nothing changed"
        return f"{self.kind}: {self.rows} rows: {counts}"


@dataclass
class Row:
    """One data row: its line in the file and its non-blank cells."""

    line: int
    cells: dict[str, str]


@dataclass
class Errors:
    items: list[RowError] = field(default_factory=list)

    def add(self, line: int, column: str, reason: str) -> None:
        self.items.append(RowError(line=line, field=column, reason=reason))

    def lines(self) -> set[int]:
        return {e.line for e in self.items}


@dataclass
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    lists: tuple[str, ...] = ()  # ";"-separated
    times: tuple[str, ...] = ()  # ISO dates or times; local (UK) time without an offset


def read_rows(text: str, columns: Columns, errors: Errors) -> list[Row]:
    """The file's rows, with header problems reported against line 1."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # spreadsheets often save a BOM
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    known = set(columns.required) | set(columns.optional)
    for name in header:
        if name not in known:
            errors.add(1, name or "(blank)", "not a column of this import (see docs/import.md)")
    for name in columns.required:
        if name not in header:
            errors.add(1, name, "this column is required")
    if errors.items:
        return []
    rows = []
    for record in reader:
        if None in record:
            errors.add(reader.line_num, "(row)", "more cells than the header has columns")
            continue
        cells = {k: v.strip() for k, v in record.items() if k and v is not None and v.strip() != ""}
        if cells:
            rows.append(Row(reader.line_num, cells))
    return rows


def model_input(row: Row, columns: Columns, errors: Errors, skip: Iterable[str] = ()) -> dict[str, Any] | None:
    """The row's cells as a model's input: lists split, times read as local; None if a cell is bad."""
    out: dict[str, Any] = {}
    ok = True
    for name, value in row.cells.items():
        if name in skip:
            continue
        if name in columns.lists:
            out[name] = [v.strip() for v in value.split(";") if v.strip()]
        elif name in columns.times:
            try:
                out[name] = parse_when(value)
            except ValueError as err:
                errors.add(row.line, name, str(err))
                ok = False
        else:
            out[name] = value
    return out if ok else None


def validate(model: type[M], data: dict[str, Any], line: int, errors: Errors) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        for where, reason in problems_of(err):
            errors.add(line, where, reason)
        return None


def chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def fetch(session: Session, stmt_for: Callable[[list[Any]], Any], keys: Iterable[Any]) -> list[Any]:
    """Rows for many keys, CHUNK keys a query."""
    out: list[Any] = []
    for part in chunks(sorted(set(keys), key=str)):
        out += session.execute(stmt_for(part)).all()
    return out


def insert_many(session: Session, table: Table, rows: list[dict[str, Any]], returning: bool = False) -> list[int]:
    """Insert in batches (one statement for many rows); the new ids, in order, if asked."""
    if not rows:
        return []
    if returning:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(stmt, rows).scalars())
    session.execute(insert(table), rows)
    return []


def update_many(session: Session, table: Table, rows: list[tuple[Any, int | None, dict[str, Any]]],
                key: str = "id") -> None:
    """Update rows by key, each only if its version is still the one read (a coordinator's edit
    meanwhile makes the import fail, not vanish). Rows changing the same columns go together."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_key, version, values in rows:
        cols = tuple(sorted(values))
        params = {f"v_{c}": v for c, v in values.items()} | {"k_key": row_key, "k_version": version}
        by_columns.setdefault(cols, []).append(params)
    for cols, params in by_columns.items():
        stmt = update(table).where(table.c[key] == bindparam("k_key"))
        values: dict[str, Any] = {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in cols}
        if "version" in table.c:
            stmt = stmt.where(table.c.version == bindparam("k_version"))
            values["version"] = table.c.version + 1
        result = session.execute(stmt.values(values), params)
        if result.rowcount not in (-1, len(params)):
            raise ImportConflict(f"{table.name}: {len(params) - result.rowcount} records were changed by someone "
                                 "while the import ran; run it again")


class ImportConflict(RuntimeError):
    """Records changed underneath the import; nothing was written."""


def diff_values(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if plain(old.get(k)) != plain(v)}


def changes_of(old: dict[str, Any], new: dict[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    hidden = set(secrets)
    return {k: ({"old": "(changed)", "new": "(changed)"} if k in hidden else {"old": plain(old.get(k)), "new": plain(v)})
            for k, v in new.items()}


def import_csv(session: Session, kind: Kind, text: str, *, actor: str, now: datetime,
               dry_run: bool = False) -> ImportReport:
    """Import one file into the session's transaction (the caller commits). Nothing is written
    when any row is bad or on a dry run."""
    from tecwatch.registry.importers import IMPORTERS

    if kind not in IMPORTERS:
        raise ValueError(f"imports are of {', '.join(KINDS)}")
    return IMPORTERS[kind](session, text, actor=actor, now=now, dry_run=dry_run)

