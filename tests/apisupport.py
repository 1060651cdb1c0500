"""The API on a real HTTP server (uvicorn on loopback) and a cast of users, one per role."""

from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from unittest import mock

import httpx
import uvicorn
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.api.app import create_app, server_config
from tecwatch.localservices import free_port
from tecwatch.registry.models import (
    ContactRoute, Device, FamilyConsent, Home, Notification, NotificationStatus, PrimaryNeed, Resident, Responder,
    ResponderKind, UserRole,
)
from tecwatch.settings import RegistrySettings, Settings, StoreSettings

PASSWORD = "correct horse battery"
T_INSTALL = datetime(2026, 1, 5, tzinfo=timezone.utc)


@contextmanager
def api_server(registry_url: str, data_dir: Path, clock=None, log_level: str = "warning",
               **settings) -> Iterator[tuple[str, Settings]]:
    """The app on uvicorn, set up as `tecwatch api` sets it up; ``clock`` (a callable returning
    an aware datetime) decides token expiry and sign-in backoff."""
    s = Settings(registry=RegistrySettings(url=registry_url), data_dir=data_dir,
                 store=StoreSettings(backend="sqlite", sqlite_path=data_dir / "readings.db"), **settings)
    port = free_port()
    app = create_app(s, clock) if clock else create_app(s)
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level=log_level, timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", s
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Cast:
    """Usernames by role; family-1 may see home-1's resident (Arthur), family-2 home-2's (Beryl)."""

    arthur_id: int
    beryl_id: int
    roles: dict[str, UserRole]


_password_hash = functools.cache(access.hash_password)


def seed_cast(engine: Engine) -> Cast:
    # Every user of the cast has the same password: one argon2 hash of it (slow on purpose) serves
    # them all, in every test of the run.
    with Session(engine) as s, s.begin(), mock.patch.object(access, "hash_password", _password_hash):
        for home_id, district, name, need in (("home-1", "Norwich", "Arthur Example", PrimaryNeed.DEMENTIA),
                                              ("home-2", "Breckland", "Beryl Example", PrimaryNeed.FRAILTY)):
            s.add(Home(id=home_id, address=f"1 {name.split()[0]} Lane", district=district,
                       postcode_area="NR1", created_at=T_INSTALL))
            s.flush()
            s.add(Resident(home_id=home_id, name=name, dob_band="80-84", primary_need=need))
            s.add(Device(home_id=home_id, device_id="pir-lounge", type="motion", room="lounge", installed_at=T_INSTALL))
        s.flush()
        arthur, beryl = s.query(Resident).order_by(Resident.id).all()
        roles: dict[str, UserRole] = {}
        for username, role in (("operator", UserRole.OPERATOR), ("responder", UserRole.RESPONDER),
                               ("admin", UserRole.ADMIN), ("commissioner", UserRole.COMMISSIONER),
                               ("coordinator", UserRole.COORDINATOR)):
            access.create_user(s, username, PASSWORD, role)
            roles[username] = role
        for username, resident in (("family-1", arthur), ("family-2", beryl)):
            relative = Responder(name=f"{username} relative", kind=ResponderKind.FAMILY)
            s.add(relative)
            s.flush()
            s.add(FamilyConsent(resident_id=resident.id, responder_id=relative.id, granted_at=T_INSTALL))
            access.create_user(s, username, PASSWORD, UserRole.FAMILY, responder_id=relative.id)
            roles[username] = UserRole.FAMILY
        return Cast(arthur.id, beryl.id, roles)


def signed_in(base_url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    r = httpx.post(f"{base_url}/api/auth/token", data={"username": username, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {r.json()['access_token']}"})


def notified_responder(engine: Engine, alert_id: int, name: str, at: datetime) -> int:
    """A responder the alert's escalation has notified (as the alert engine records it): the only
    kind an acknowledge link may be for."""
    with Session(engine) as s, s.begin():
        responder = Responder(name=name, kind=ResponderKind.FAMILY)
        s.add(responder)
        s.flush()
        route = ContactRoute(responder_id=responder.id, kind="webhook", target="http://127.0.0.1:9/unused")
        s.add(route)
        s.flush()
        s.add(Notification(alert_id=alert_id, step=1, responder_id=responder.id, route_id=route.id,
                           status=NotificationStatus.SENT, attempts=1, next_attempt_at=at, created_at=at, sent_at=at))
        return responder.id
