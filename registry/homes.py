"""Homes: the address (with its postcode, district and optional UPRN) and the id the home's
gateway uses on MQTT. A home is made with its first resident (``registry/residents.py``)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.changes import Conflict, Invalid, NotFound, audit, changed, check_version, created, flush, validated
from tecwatch.registry.fields import LOCAL_ZONE, Input, Postcode, Uprn, Zone, optional_copy, postcode_area
from tecwatch.registry.models import Home

HOME_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"  # one MQTT topic level, as gateways use it


class HomeFields(Input):
    address: str = Field(min_length=1, max_length=300)  # the lines before the postcode
    postcode: Postcode
    district: str = Field(min_length=1, max_length=80)
    uprn: Uprn | None = None
    timezone: Zone = LOCAL_ZONE


class HomeIn(HomeFields):
    home_id: str | None = Field(None, pattern=HOME_ID_PATTERN)  # None: one is made


HomeChange = optional_copy(HomeFields, "HomeChange", "Fields of a home to change; only those given change.")


class HomeRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    address: str
    postcode: str
    district: str
    postcode_area: str
    uprn: str | None
    timezone: str
    created_at: datetime
    version: int


def home_values(data: Any) -> dict[str, Any]:
    """The stored columns for a home's input (``postcode_area`` follows the postcode)."""
    values = {k: getattr(data, k) for k in ("address", "postcode", "district", "uprn", "timezone")
              if k in data.model_fields_set or not isinstance(data, HomeChange)}
    if values.get("postcode"):
        values["postcode_area"] = postcode_area(values["postcode"])
    return values


def new_home_id(session: Session) -> str:
    while True:  # 40 random bits: a clash is rare, and checked
        home_id = f"home-{secrets.token_hex(5)}"
        if session.get(Home, home_id) is None:
            return home_id


def add_home(session: Session, actor: str, data: HomeIn, *, now: datetime) -> Home:
    """A new home (the resident service makes one with its first resident)."""
    home_id = data.home_id or new_home_id(session)
    if session.get(Home, home_id) is not None:
        raise Conflict(f"there is already a home {home_id!r}")
    values = home_values(data)
    home = Home(id=home_id, created_at=now, **values)
    session.add(home)
    session.flush()
    audit(session, actor, "create", "home", home_id, created(values), now, home_id=home_id)
    return home


def get_home(session: Session, home_id: str) -> HomeRecord:
    home = session.get(Home, home_id)
    if home is None:
        raise NotFound(f"no home {home_id!r}")
    return HomeRecord.model_validate(home)


def update_home(session: Session, actor: str, home_id: str, change: Any, *, version: int | None,
                now: datetime) -> HomeRecord:
    change = validated(HomeChange, change)
    home = session.get(Home, home_id)
    if home is None:
        raise NotFound(f"no home {home_id!r}")
    check_version(home, version, f"home {home_id}")
    for field in ("address", "postcode", "district", "timezone"):
        if field in change.model_fields_set and getattr(change, field) is None:
            raise Invalid.one(field, "may not be empty")
    diff = changed(home, home_values(change))
    flush(session, f"home {home_id}")
    audit(session, actor, "update", "home", home_id, diff, now, home_id=home_id)
    return HomeRecord.model_validate(home)


def home_zones(session: Session, home_ids: Sequence[str], default: str) -> list[str]:
    """Each home's time zone, in the order given: ``default`` for a home not enrolled (heard
    before it was registered) or enrolled without one."""
    rows = dict(session.execute(select(Home.id, Home.timezone).where(Home.id.in_(list(home_ids)))).all())
    return [rows.get(h) or default for h in home_ids]
