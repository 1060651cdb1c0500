"""CSV import at council scale: 2,000 residents and 14,000 devices (7 each), as `tecwatch import`
runs it (one transaction per file), into SQLite and a fresh PostgreSQL database. Then the same
files again: nothing may change.

Usage: python bench/import.py [--residents 2000] [--devices-each 7]
                              [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecwatch.db import make_engine
from tecwatch.registry.imports import import_csv
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import Device, Resident
from tecwatch.registry.records import AuditEntry

TARGET_S = 30.0
NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)
DISTRICTS = (("Norwich", "NR3"), ("Breckland", "IP25"), ("North Norfolk", "NR27"))
FITTED = (("motion", "hall", ""), ("motion", "kitchen", ""), ("motion", "lounge", ""), ("motion", "bedroom", ""),
          ("door", "hall", "entrance_door"), ("pendant", "", ""), ("smoke", "hall", ""), ("bed", "bedroom", ""),
          ("leak", "kitchen", ""), ("temperature", "lounge", ""))


def nhs_number(n: int) -> str:
    """A valid (modulus 11) NHS number for each n, from the 999 range used for testing."""
    while True:
        digits = f"999{n:06d}"
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1))) % 11
        if check != 10:
            return digits + str(0 if check == 11 else check)
        n += 500_000  # another number in the range, never one of the others


def files(residents: int, each: int) -> tuple[str, str]:
    rng = random.Random(1)
    people, fitted = io.StringIO(), io.StringIO()
    p = csv.writer(people)
    p.writerow(["council_ref", "name", "nhs_number", "date_of_birth", "phones", "address", "postcode", "district",
                "risks", "primary_need", "referral_source", "referral_date"])
    d = csv.writer(fitted)
    d.writerow(["serial", "resident_ref", "type", "room", "role", "installed_at", "installed_by", "tested_at",
                "test_result"])
    for n in range(residents):
        district, area = DISTRICTS[n % len(DISTRICTS)]
        ref = f"NCC-{n:06d}"
        p.writerow([ref, f"Resident {n}", nhs_number(n), f"{rng.randint(1926, 1960)}-{rng.randint(1, 12):02d}-15",
                    f"01603 {rng.randint(100000, 999999)}", f"{n} Long Street", f"{area} {1 + n % 9}AB", district,
                    "lives_alone" if n % 3 else "lives_alone;pets", rng.choice(("dementia", "frailty", "other")),
                    "hospital_discharge", "2025-11-01"])
        for k, (kind, room, role) in enumerate(FITTED[:each]):
            day = f"2026-0{1 + n % 9}-{1 + n % 28:02d}"
            d.writerow([f"SN{n:06d}{k:02d}", ref, kind, room, role, day, "installer", f"{day}T11:00", "passed"])
    return people.getvalue(), fitted.getvalue()


def timed(url: str, kind: str, text: str):
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        with Session(engine) as s, s.begin():
            report = import_csv(s, kind, text, actor="bench", now=NOW)
        return report, time.perf_counter() - start
    finally:
        engine.dispose()


def run(name: str, url: str, people: str, fitted: str) -> float:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    total = 0.0
    for kind, text in (("residents", people), ("devices", fitted)):
        report, seconds = timed(url, kind, text)
        assert not report.errors, report.errors[:5]
        total += seconds
        print(f"  {name:10} {kind:9} {report.rows:6,} rows in {seconds:5.2f} s: {report.summary()}")
    print(f"  {name:10} both files in {total:.2f} s (target {TARGET_S:.0f} s): {'ok' if total < TARGET_S else 'TOO SLOW'}")
    engine = make_engine(url)
    with Session(engine) as s:
        before = [s.scalar(select(func.count()).select_from(m)) for m in (Resident, Device, AuditEntry)]
    again = 0.0
    for kind, text in (("residents", people), ("devices", fitted)):
        report, seconds = timed(url, kind, text)
        again += seconds
        assert (report.created, report.updated, report.written) == (0, 0, False), report.summary()
        print(f"  {name:10} again: {report.summary()} ({seconds:.2f} s)")
    with Session(engine) as s:
        after = [s.scalar(select(func.count()).select_from(m)) for m in (Resident, Device, AuditEntry)]
    engine.dispose()
    assert after == before, (before, after)
    print(f"  {name:10} re-import in {again:.2f} s: residents, devices and audit rows unchanged {after}")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residents", type=int, default=2000)
    ap.add_argument("--devices-each", type=int, default=7, choices=range(1, len(FITTED) + 1))
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="a server where a scratch database may be made (and dropped); '' to skip")
    args = ap.parse_args()
    people, fitted = files(args.residents, args.devices_each)
    print(f"{args.residents:,} residents and {args.residents * args.devices_each:,} devices "
          f"({len(people) + len(fitted):,} bytes of CSV)")
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'registry.db'}", people, fitted)
    if args.postgres:
        name = f"tecwatch_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            server = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            run("PostgreSQL", f"{server}/{name}", people, fitted)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
