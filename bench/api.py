"""The HTTP API at county scale: the real app on uvicorn (loopback), a SQLite registry of 10,000
homes and a SQLite store with a few days of simulated readings.

The registry: homes in seven districts, residents with primary needs (some have left), devices
installed over two years (some removed), closed alerts with acknowledgement times and outcomes,
open alerts for the queue, and family members linked to some residents. Rows are bulk-inserted
with SQLAlchemy Core. The store: `--store-homes` simulated homes (home-1...) backfilled for
`--days` days up to now, so their family status has real readings to read.

Measured with httpx, one request at a time (so requests/s is 1 / mean latency, client included):

- family status, GET /api/family/residents/{id}/status as a family member;
- the commissioner's reach report, GET /api/reports/reach, and /api/reports/reach/monthly over two years;
- the alert queue, GET /api/alerts as an operator.

Usage: python bench/api.py [--homes 10000] [--open-alerts 2000] [--store-homes 50] [--days 3]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from tecwatch.alerts.lifecycle import PRIORITY
from tecwatch.api.access import hash_password
from tecwatch.db import make_engine
from tecwatch.devices.catalogue import GATEWAY_DEVICE_ID
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import (
    Alert, AlertState, Device, DistrictPopulation, FamilyConsent, Home, LeftReason, Outcome, PrimaryNeed, Resident,
    Responder, ResponderKind, User, UserRole,
)
from tecwatch.simulators.backfill import backfill
from tecwatch.simulators.home import make_home

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from apisupport import api_server  # noqa: E402  (tests/apisupport.py: uvicorn in a thread on loopback)

FAMILY_P99_TARGET_MS, REACH_TARGET_MS = 200.0, 1000.0
PASSWORD = "bench password 1"
SEED = 7
DISTRICTS = {  # district: (postcode areas, people aged 65+)
    "Norwich": (("NR1", "NR2", "NR3", "NR4"), 26_000), "Broadland": (("NR7", "NR8", "NR13"), 32_000),
    "South Norfolk": (("NR14", "NR15", "NR16"), 34_000), "Breckland": (("IP24", "IP25", "NR19"), 38_000),
    "North Norfolk": (("NR11", "NR12", "NR26", "NR27"), 37_000), "Great Yarmouth": (("NR29", "NR30", "NR31"), 23_000),
    "King's Lynn and West Norfolk": (("PE30", "PE31", "PE33", "PE38"), 41_000),
}
NEEDS = list(PrimaryNeed)
NEED_WEIGHTS = [25, 30, 6, 12, 8, 7, 12]
KIT = [("pendant-1", "pendant", "lounge"), ("pir-hall", "motion", "hall"), ("pir-kitchen", "motion", "kitchen"),
       ("pir-lounge", "motion", "lounge"), ("door-front", "door", "hall"), ("smoke-hall", "smoke", "hall"),
       ("bed-1", "bed", "bedroom"), ("fall-1", "fall_detector", "lounge"), ("leak-kitchen", "leak", "kitchen"),
       ("temp-lounge", "temperature", "lounge")]
HISTORIC_RULES = ["pendant", "fall_detected", "no_activity", "not_up", "door_at_night", "low_battery",
                  "device_silent", "hub_offline", "cold_home", "smoke", "flood"]
OUTCOMES = list(Outcome)
OUTCOME_WEIGHTS = [30, 25, 15, 6, 4, 5, 5, 10]
LEFT_REASONS = list(LeftReason)


def chunks(rows: list[dict], size: int = 5000) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def bulk(engine: Engine, table, rows: list[dict]) -> None:
    with engine.begin() as conn:
        for part in chunks(rows):
            conn.execute(insert(table), part)


def build_registry(engine: Engine, homes: int, open_alerts: int, sim_homes: list, now: datetime,
                   rng: random.Random) -> dict[str, int]:
    """Bulk-insert the county; returns row counts and the resident ids the family users may see."""
    two_years = now - timedelta(days=730)
    districts = list(DISTRICTS)
    sim_kit = {h.home_id: h.devices for h in sim_homes}
    home_rows, resident_rows, device_rows, alert_rows = [], [], [], []
    installed: dict[str, datetime] = {}
    for i in range(1, homes + 1):
        home_id = f"home-{i}"
        district = districts[rng.randrange(len(districts))]
        start = two_years + timedelta(seconds=rng.uniform(0, 725 * 86400))
        if home_id in sim_kit:
            start = two_years + timedelta(days=rng.uniform(0, 30))  # the simulated homes: well established
        installed[home_id] = start
        home_rows.append({"id": home_id, "address": f"{i} Bench Road", "district": district,
                          "postcode_area": rng.choice(DISTRICTS[district][0]), "timezone": "Europe/London",
                          "created_at": start - timedelta(days=rng.uniform(1, 20))})
        for _ in range(2 if rng.random() < 0.08 else 1):
            left = rng.random() < 0.12 and home_id not in sim_kit
            left_at = start + timedelta(seconds=rng.uniform(3600, (now - start).total_seconds())) if left else None
            resident_rows.append({"home_id": home_id, "name": f"Resident {i}", "dob_band": rng.choice(
                ("65-69", "70-74", "75-79", "80-84", "85-89", "90+")), "primary_need": rng.choices(NEEDS, NEED_WEIGHTS)[0],
                "left_at": left_at, "left_reason": rng.choice(LEFT_REASONS) if left else None})
        if home_id in sim_kit:
            kit = [(d.device_id, d.device_type, d.room) for d in sim_kit[home_id]]
            kit.append((GATEWAY_DEVICE_ID, "gateway", None))
        else:
            kit = KIT[:2] + rng.sample(KIT[2:], rng.randint(1, 6))
        for device_id, kind, room in kit:
            at = start + timedelta(minutes=rng.uniform(0, 180))
            removed = None
            if home_id not in sim_kit and rng.random() < 0.15:
                removed = at + timedelta(seconds=rng.uniform(86400, max(86401, (now - at).total_seconds())))
                removed = min(removed, now - timedelta(hours=1))
            device_rows.append({"home_id": home_id, "device_id": device_id, "type": kind, "room": room,
                                "installed_at": at, "removed_at": removed})
        # Closed alerts over the home's life: about five each.
        for _ in range(rng.choices((0, 2, 5, 8, 12), (15, 25, 30, 20, 10))[0]):
            raised = start + timedelta(seconds=rng.uniform(0, max(1.0, (now - start).total_seconds() - 86400)))
            rule = rng.choice(HISTORIC_RULES)
            cancelled = rng.random() < 0.07
            ack = None if cancelled else raised + timedelta(seconds=rng.lognormvariate(4.5, 1.0))
            closed = (ack or raised) + timedelta(seconds=rng.lognormvariate(7.0, 1.0))
            alert_rows.append(alert_row(home_id, rule, raised, closed_at=closed, acknowledged_at=ack,
                                        state=AlertState.CANCELLED if cancelled else AlertState.RESOLVED,
                                        outcome=None if cancelled else rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]))
    # Open alerts for the queue: at most one per home and rule, some already acknowledged.
    open_pairs: set[tuple[str, str]] = set()
    while len(open_pairs) < open_alerts:
        open_pairs.add((f"home-{rng.randint(1, homes)}", rng.choice(HISTORIC_RULES)))
    for home_id, rule in sorted(open_pairs):
        raised = now - timedelta(seconds=rng.uniform(60, 3 * 86400))
        acked = rng.random() < 0.3
        alert_rows.append(alert_row(home_id, rule, raised, state=AlertState.ACKNOWLEDGED if acked else AlertState.RAISED,
                                    acknowledged_at=raised + timedelta(seconds=rng.uniform(20, 600)) if acked else None))
    bulk(engine, Home.__table__, home_rows)
    bulk(engine, Resident.__table__, resident_rows)
    bulk(engine, Device.__table__, device_rows)
    bulk(engine, Alert.__table__, alert_rows)
    bulk(engine, DistrictPopulation.__table__, [{"district": d, "aged_65_plus": pop, "source": "bench", "updated_at": now}
                                                for d, (_, pop) in DISTRICTS.items()])
    return {"homes": len(home_rows), "residents": len(resident_rows), "devices": len(device_rows),
            "alerts": len(alert_rows), "open alerts": len(open_pairs)}


def alert_row(home_id: str, rule: str, raised: datetime, *, state: AlertState, acknowledged_at: datetime | None = None,
              closed_at: datetime | None = None, outcome: Outcome | None = None) -> dict:
    return {"home_id": home_id, "rule": rule, "priority": PRIORITY.get(rule, 3), "state": state, "device_id": None,
            "reason": f"bench {rule}", "detail": {}, "occurred_at": raised, "raised_at": raised, "last_seen_at": raised,
            "repeats": 0, "acknowledged_at": acknowledged_at,
            "acknowledged_by": "operator (operator)" if acknowledged_at else None, "closed_at": closed_at,
            "outcome": outcome, "chain_id": None, "escalation_step": 0, "next_escalation_at": None}


def add_people(engine: Engine, family_share: float, now: datetime, rng: random.Random) -> tuple[int, dict[str, int]]:
    """Staff users, and a family member (user and responder) for a share of the residents at home.
    The first family member, family-1, is linked to home-1's resident. One password hash for all."""
    digest = hash_password(PASSWORD)
    with engine.connect() as conn:
        residents = conn.execute(Resident.__table__.select().where(Resident.left_at.is_(None))
                                 .order_by(Resident.id)).all()
    first = next(r for r in residents if r.home_id == "home-1")
    linked = [first] + [r for r in residents if r.id != first.id and rng.random() < family_share]
    responders = [{"id": n, "name": f"Family of resident {r.id}", "kind": ResponderKind.FAMILY, "active": True}
                  for n, r in enumerate(linked, start=1)]
    consents = [{"resident_id": r.id, "responder_id": n, "granted_at": now - timedelta(days=30), "revoked_at": None}
                for n, r in enumerate(linked, start=1)]
    users = [{"username": f"family-{n}", "display_name": f"Family {n}", "password_hash": digest, "role": UserRole.FAMILY,
              "responder_id": n, "active": True, "created_at": now} for n in range(1, len(linked) + 1)]
    users += [{"username": name, "display_name": name, "password_hash": digest, "role": role, "responder_id": None,
               "active": True, "created_at": now}
              for name, role in (("operator", UserRole.OPERATOR), ("commissioner", UserRole.COMMISSIONER),
                                 ("admin", UserRole.ADMIN))]
    bulk(engine, Responder.__table__, responders)
    bulk(engine, FamilyConsent.__table__, consents)
    bulk(engine, User.__table__, users)
    return first.id, {"family users": len(linked)}


def signed_in(base_url: str, username: str) -> httpx.Client:
    r = httpx.post(f"{base_url}/api/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {r.json()['access_token']}"})


def measure(client: httpx.Client, n: int, url: Callable[[int], str] | str, params: dict | None = None,
            warmup: int = 3) -> tuple[list[float], float]:
    """Latencies in ms of n sequential GETs (after a few unmeasured ones), and requests/s."""
    for i in range(warmup):
        client.get(url(i) if callable(url) else url, params=params).raise_for_status()
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        r = client.get(url(i) if callable(url) else url, params=params)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return times, n / (time.perf_counter() - t0)


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def report(label: str, times: list[float], rate: float, target_ms: float, target_at: int) -> None:
    at = pct(times, target_at)
    print(f"{label}: p50 {pct(times, 50):6.1f} ms  p95 {pct(times, 95):6.1f} ms  p99 {pct(times, 99):6.1f} ms  "
          f"(mean {statistics.fmean(times):.1f}, max {max(times):.1f}; {len(times)} requests, {rate:.1f} req/s); "
          f"p{target_at} is {at / target_ms:.0%} of the {target_ms:.0f} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--open-alerts", type=int, default=2_000)
    parser.add_argument("--store-homes", type=int, default=50)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--family-share", type=float, default=0.2, help="share of residents with a family user")
    parser.add_argument("--requests", type=int, default=300, help="family status requests")
    parser.add_argument("--report-requests", type=int, default=30)
    parser.add_argument("--queue-requests", type=int, default=100)
    args = parser.parse_args()
    logging.getLogger("tecwatch").setLevel(logging.ERROR)
    rng = random.Random(SEED)
    now = datetime.now(UTC)

    with tempfile.TemporaryDirectory(prefix="tecwatch-bench-") as tmp:
        data = Path(tmp)
        url = f"sqlite:///{data / 'registry.db'}"
        sim = [make_home(SEED, i) for i in range(1, args.store_homes + 1)]
        t0 = time.perf_counter()
        engine = make_engine(url)
        upgrade(engine)
        counts = build_registry(engine, args.homes, args.open_alerts, sim, now, rng)
        arthur, people = add_people(engine, args.family_share, now, rng)
        engine.dispose()
        t1 = time.perf_counter()
        store = SQLiteStore(data / "readings.db")  # where api_server's settings look for it
        today = now.date()
        result = backfill(store, sim, days=args.days, seed=SEED, first_day=today - timedelta(days=args.days - 1),
                          progress=False)
        store.close()
        t2 = time.perf_counter()
        print("registry: " + ", ".join(f"{v:,} {k}" for k, v in {**counts, **people}.items())
              + f"; bulk-inserted in {t1 - t0:.1f} s")
        print(f"store: {args.store_homes} homes x {args.days} days up to now, {result.readings:,} readings"
              f" backfilled in {t2 - t1:.1f} s")

        with api_server(url, data) as (base_url, _settings):
            t3 = time.perf_counter()
            print(f"server up in {t3 - t2:.1f} s; set-up in all {t3 - t0:.1f} s\n")
            with signed_in(base_url, "family-1") as family:
                status = family.get(f"/api/family/residents/{arthur}/status")
                status.raise_for_status()
                body = status.json()
                print(f"family status of home-1's resident: level {body['level']}, last activity {body['last_activity']},"
                      f" {len(body['open_alerts'])} open alerts, {len(body['activity'])} activity hours")
                times, rate = measure(family, args.requests, f"/api/family/residents/{arthur}/status")
                report("family status          ", times, rate, FAMILY_P99_TARGET_MS, 99)
            with signed_in(base_url, "commissioner") as commissioner:
                reach = commissioner.get("/api/reports/reach").json()
                print(f"\nreach today: {reach['homes']:,} homes in {len(reach['by_district'])} districts")
                times, rate = measure(commissioner, args.report_requests, "/api/reports/reach")
                report("reach report           ", times, rate, REACH_TARGET_MS, 99)
                months = {"start": (today - timedelta(days=730)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}
                monthly = commissioner.get("/api/reports/reach/monthly", params=months)
                if monthly.status_code == 404:
                    print("reach by month: not in this API (404)")
                else:
                    monthly.raise_for_status()
                    print(f"reach by month over two years: {len(monthly.json())} months")
                    times, rate = measure(commissioner, args.report_requests, "/api/reports/reach/monthly", months)
                    report("reach by month (2 years)", times, rate, REACH_TARGET_MS, 99)
            with signed_in(base_url, "operator") as operator:
                queue = operator.get("/api/alerts").json()
                print(f"\nalert queue: {queue['total']:,} open alerts, {len(queue['items'])} a page")
                for label, params in (("alert queue (100 a page)", None), ("alert queue (1,000)     ", {"limit": 1000}),
                                      ("alert queue, last page ", {"offset": max(0, queue["total"] - 100)})):
                    times, rate = measure(operator, args.queue_requests, "/api/alerts", params)
                    print(f"{label}: p50 {pct(times, 50):6.1f} ms  p99 {pct(times, 99):6.1f} ms  "
                          f"({len(times)} requests, {rate:.1f} req/s)")


if __name__ == "__main__":
    main()
