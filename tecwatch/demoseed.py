"""The demo's registry: simulated homes with residents and devices, a family member who may see
the first resident, and one account per role. Homes were fitted over the past year and have
some months of answered alerts behind them, so the commissioners' reports have something to
show. Idempotent: a second run changes nothing."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import raise_alert, transition
from tecwatch.api import access
from tecwatch.registry.models import (
    AlertState, Device, DistrictPopulation, FamilyConsent, Gateway, Home, Outcome, PrimaryNeed, Resident, Responder,
    ResponderKind, User, UserRole,
)
from tecwatch.simulators.home import SimHome

DEMO_PASSWORD = "tecwatch-demo"
# (username, role, what they see)
DEMO_USERS: tuple[tuple[str, UserRole, str], ...] = (
    ("operator", UserRole.OPERATOR, "the monitoring centre's alert queue"),
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


def seed_demo(engine: Engine, homes: Sequence[SimHome], now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    new_homes: list[tuple[str, datetime]] = []
    with Session(engine) as s, s.begin():
        for district, _area, aged_65_plus in _DISTRICTS:
            if s.get(DistrictPopulation, district) is None:
                s.add(DistrictPopulation(district=district, aged_65_plus=aged_65_plus, source="demo", updated_at=now))
        for n, home in enumerate(homes):
            if s.get(Home, home.home_id) is not None:
                continue
            installed = _installed(n, now)
            new_homes.append((home.home_id, installed))
            district, area, _ = _DISTRICTS[n % len(_DISTRICTS)]
            s.add(Home(id=home.home_id, address=f"{n + 1} Demo Street", district=district, postcode_area=area,
                       timezone=home.tz, created_at=installed))
            s.flush()
            s.add(Resident(home_id=home.home_id, name=_NAMES[n % len(_NAMES)], dob_band=f"{75 + 5 * (n % 4)}-{79 + 5 * (n % 4)}",
                           primary_need=_NEEDS[n % len(_NEEDS)]))
            s.add(Gateway(home_id=home.home_id, broker_username=f"gw-{home.home_id}", installed_at=installed))
            s.add_all(Device(home_id=home.home_id, device_id=d.device_id, type=d.device_type, room=d.room,
                             installed_at=installed) for d in home.devices)
        s.flush()
        for username, role, _what in DEMO_USERS:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                continue
            relative = None
            if role is UserRole.FAMILY:
                arthur = s.scalars(select(Resident).where(Resident.home_id == homes[0].home_id)).first()
                relative = Responder(name="Arthur's daughter (demo)", kind=ResponderKind.FAMILY)
                s.add(relative)
                s.flush()
                s.add(FamilyConsent(resident_id=arthur.id, responder_id=relative.id, granted_at=_installed(0, now)))
            access.create_user(s, username, DEMO_PASSWORD, role, responder_id=relative.id if relative else None)
    _past_alerts(engine, new_homes, now)


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
