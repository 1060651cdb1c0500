"""The demo's registry: simulated homes with residents and devices, a family member who may see
the first resident, and one account per role. Homes were fitted over the past year and have
some months of answered alerts behind them, so the commissioners' reports have something to
show. Everything is enrolled through the registry's own services, as a coordinator would.
Idempotent: a second run changes nothing."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import raise_alert, transition
from tecwatch.api import access
from tecwatch.registry import consent, contacts, devices, residents
from tecwatch.registry.accessinfo import Sealer, set_access_info
from tecwatch.registry.models import (
    AlertState, DistrictPopulation, Gateway, Home, Outcome, PrimaryNeed, Resident, User, UserRole,
)
from tecwatch.registry.vocab import CONTACT_SENSOR_TYPES, ConsentScope, ContactRole, ResponderKind
from tecwatch.simulators.home import SimHome

DEMO_PASSWORD = "tecwatch-demo"
SEEDER = "demo seed"  # what the audit records as the coordinator
INSTALLER = "demo installer"
# (username, role, what they see)
DEMO_USERS: tuple[tuple[str, UserRole, str], ...] = (
    ("operator", UserRole.OPERATOR, "the monitoring centre's alert queue and call screen"),
    ("responder", UserRole.RESPONDER, "a mobile responder's call-outs (made for a phone)"),
    ("coordinator", UserRole.COORDINATOR, "the TEC team: residents, enrolment and installs"),
    ("family", UserRole.FAMILY, "how Arthur (home-1) is today, as his daughter"),
    ("commissioner", UserRole.COMMISSIONER, "reach and outcome reports"),
    ("admin", UserRole.ADMIN, "everything"),
)
_NAMES = ("Arthur Fenn", "Beryl Hart", "Cyril Moss", "Doris Page", "Edna Reed", "Frank Shaw", "Gladys Tate",
          "Harold Vine", "Irene Wells", "Jack York")
_NEEDS = (PrimaryNeed.DEMENTIA, PrimaryNeed.FRAILTY, PrimaryNeed.PHYSICAL_DISABILITY, PrimaryNeed.LEARNING_DISABILITY)
_DISTRICTS = (("Norwich", "NR1", 31_000), ("Breckland", "IP25", 35_500), ("North Norfolk", "NR27", 39_000))
# Past alerts: (rule, reason, device, the outcomes they ended with, as a pool to draw from).
_PAST = (
    ("pendant", "Pendant pressed", "pendant-1", (Outcome.FALSE_ALARM, Outcome.FALSE_ALARM, Outcome.RESOLVED_BY_PHONE,
                                                 Outcome.RESPONDER_ATTENDED, Outcome.ADMISSION_AVOIDED,
                                                 Outcome.AMBULANCE_CALLED)),
    ("no_activity", "No movement for longer than usual", None, (Outcome.RESOLVED_BY_PHONE, Outcome.RESPONDER_ATTENDED,
                                                                Outcome.HOSPITAL_ADMISSION)),
    ("not_up", "Not up at the usual time", None, (Outcome.RESOLVED_BY_PHONE, Outcome.CARE_PLAN_REVIEWED)),
    ("low_battery", "Battery low on a sensor", "door-front", (Outcome.TECHNICAL_FIXED,)),
)


def _installed(n: int, now: datetime) -> datetime:
    """Home n (from 0) was fitted 10 weeks apart from the others, the first about a year ago."""
    return now - timedelta(days=max(30, 365 - 70 * n))


def seed_demo(engine: Engine, homes: Sequence[SimHome], now: datetime | None = None,
              sealer: Sealer | None = None) -> None:
    """Enrol the homes not yet enrolled; with ``sealer``, each gets a key safe too."""
    now = now or datetime.now(timezone.utc)
    new_homes: list[tuple[str, datetime]] = []
    with Session(engine) as s, s.begin():
        for district, _area, aged_65_plus in _DISTRICTS:
            if s.get(DistrictPopulation, district) is None:
                s.add(DistrictPopulation(district=district, aged_65_plus=aged_65_plus, source="demo", updated_at=now))
        for n, home in enumerate(homes):
            if s.get(Home, home.home_id) is None:
                new_homes.append((home.home_id, _installed(n, now)))
                _enrol(s, n, home, _installed(n, now), sealer)
        for username, role, _what in DEMO_USERS:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                continue
            linked = (_daughter(s, homes[0].home_id, now) if role is UserRole.FAMILY else
                      _mobile_team(s, now) if role is UserRole.RESPONDER else None)
            access.create_user(s, username, DEMO_PASSWORD, role, responder_id=linked)
    _past_alerts(engine, new_homes, now)


def _enrol(s: Session, n: int, home: SimHome, installed: datetime, sealer: Sealer | None) -> None:
    """Referred, assessed and fitted: the resident and home, then each device registered and tested."""
    district, area, _ = _DISTRICTS[n % len(_DISTRICTS)]
    name = _NAMES[n % len(_NAMES)]
    age = 77 + 5 * (n % 4)
    person = residents.create_resident(s, SEEDER, {
        "name": name, "preferred_name": name.split()[0], "council_ref": f"DEMO-{n + 1:04d}",
        "date_of_birth": date(installed.year - age, 1 + n % 12, 10), "primary_need": _NEEDS[n % len(_NEEDS)],
        "risks": ["lives_alone"], "referral_source": "hospital_discharge" if n % 2 else "social_worker",
        "referral_date": (installed - timedelta(days=21)).date(), "status": "monitoring",
        "next_review_on": (installed + timedelta(days=365)).date(),
        "home": {"home_id": home.home_id, "address": f"{n + 1} Demo Street", "postcode": f"{area} {1 + n % 9}AB",
                 "district": district, "timezone": home.tz}}, now=installed)
    s.add(Gateway(home_id=home.home_id, broker_username=f"gw-{home.home_id}", installed_at=installed))
    tested = installed + timedelta(minutes=20)
    for d in home.devices:
        fitted = devices.register_device(s, INSTALLER, {
            "home_id": person.home_id, "device_id": d.device_id, "type": d.device_type,
            "serial": f"DEMO-{home.home_id}-{d.device_id}", "room": d.room, "installed_at": installed,
            "installed_by": INSTALLER, "role": ContactRole.ENTRANCE_DOOR if d.device_type in CONTACT_SENSOR_TYPES else None,
        }, now=installed)
        devices.record_test(s, INSTALLER, fitted.id, result="passed", tested_at=tested, version=fitted.version,
                            now=tested)
    if sealer is not None:
        set_access_info(s, sealer, SEEDER, person.home_id, {
            "key_safe_location": "left of the front door, behind the pot", "key_safe_code": f"{2024 + 137 * n:04d}",
            "access_notes": "the door sticks: lift the handle and push"}, version=None, now=installed)


def _daughter(s: Session, home_id: str, now: datetime) -> int:
    """Arthur's daughter: a contact for his home who holds a key, to whom he consented to show everything."""
    arthur = s.scalars(select(Resident).where(Resident.home_id == home_id)).first()
    since = _installed(0, now)
    daughter = contacts.create_responder(s, SEEDER, {"name": "Arthur's daughter (demo)", "kind": ResponderKind.FAMILY,
                                                     "phones": ["07700 900001"]}, now=since)
    contacts.add_contact(s, SEEDER, home_id, {"responder_id": daughter.id, "relation": "daughter", "key_holder": True},
                         now=since)
    consent.grant_consent(s, SEEDER, arthur.id, {"responder_id": daughter.id, "scope": list(ConsentScope),
                                                 "granted_at": since}, now=since)
    return daughter.id


def _mobile_team(s: Session, now: datetime) -> int:
    """The night mobile responders the call screen can send, whom the demo's responder login is."""
    team = contacts.create_responder(s, SEEDER, {"name": "Night mobile team", "kind": ResponderKind.MOBILE,
                                                 "phones": ["01603 000111"]}, now=now)
    return team.id


def _past_alerts(engine: Engine, homes: Sequence[tuple[str, datetime]], now: datetime) -> None:
    """A few alerts a month per home since it was fitted, each raised, acknowledged (mostly within
    a minute, now and then after several) and resolved with an outcome, through the lifecycle
    functions the platform itself uses, so their audit trails are whole."""
    rng = random.Random("demo:past-alerts")
    stop = now - timedelta(days=2)  # the last days belong to the live homes
    actor = "operator (operator)"
    with Session(engine) as s, s.begin():
        for home_id, installed in homes:
            at = installed + timedelta(days=rng.uniform(3, 20))
            while at < stop:
                rule, reason, device, outcomes = rng.choices(_PAST, weights=(5, 2, 2, 1))[0]
                alert = raise_alert(s, home_id=home_id, rule=rule, occurred_at=at, now=at, device_id=device,
                                    reason=reason, detail={}).alert
                acked = at + timedelta(seconds=rng.uniform(15, 60) if rng.random() < 0.8 else rng.uniform(60, 400))
                transition(s, alert, AlertState.ACKNOWLEDGED, actor=actor, at=acked)
                transition(s, alert, AlertState.RESOLVED, actor=actor, at=acked + timedelta(minutes=rng.uniform(4, 50)),
                           outcome=rng.choice(outcomes))
                at += timedelta(days=rng.uniform(4, 20))
