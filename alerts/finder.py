"""Finding things in the monitoring centre: recently closed alerts, the homes, and a search by
resident name, home, postcode or alert number."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tecwatch.alerts.callscreen import AlertLine, lines
from tecwatch.registry.models import OPEN_STATES, Alert, AlertState, Home, Resident

CLOSED = (AlertState.RESOLVED, AlertState.CANCELLED)


class HomeLine(BaseModel):
    id: str
    address: str
    postcode: str
    district: str
    residents: list[str]  # names of those living there now
    open_alerts: int


class Found(BaseModel):
    query: str
    alerts: list[AlertLine]
    homes: list[HomeLine]


def recently_closed(session: Session, limit: int = 50) -> list[AlertLine]:
    """Resolved and cancelled alerts, the most recently closed first."""
    q = select(Alert).where(Alert.state.in_(CLOSED)).order_by(Alert.closed_at.desc(), Alert.id.desc()).limit(limit)
    return lines(session, session.scalars(q).all())


def list_homes(session: Session, limit: int = 200, offset: int = 0) -> tuple[list[HomeLine], int]:
    """Homes by id, a page at a time, and how many there are."""
    total = session.scalar(select(func.count()).select_from(Home)) or 0
    homes = session.scalars(select(Home).order_by(Home.id).limit(limit).offset(offset)).all()
    return _home_lines(session, homes), total


def search(session: Session, text: str, limit: int = 50) -> Found:
    """Alerts by number ("12" or "#12"); homes by id, the start of a postcode, or part of a
    resident's full or preferred name (any case)."""
    words = text.strip()
    if not words:
        return Found(query="", alerts=[], homes=[])
    number = words.lstrip("#")
    alerts = []
    if number.isdigit() and len(number) < 10:
        alert = session.get(Alert, int(number))
        alerts = lines(session, [alert]) if alert else []
    lowered = words.lower()
    compact = lowered.replace(" ", "")
    named = select(Resident.home_id).where(Resident.left_at.is_(None), or_(
        func.lower(Resident.name).contains(lowered, autoescape=True),
        func.lower(Resident.preferred_name).contains(lowered, autoescape=True)))
    q = select(Home).where(or_(func.lower(Home.id) == lowered,
                               func.lower(func.replace(Home.postcode, " ", "")).startswith(compact, autoescape=True),
                               Home.id.in_(named))).order_by(Home.id).limit(limit)
    return Found(query=words, alerts=alerts, homes=_home_lines(session, session.scalars(q).all()))


def _home_lines(session: Session, homes: list[Home]) -> list[HomeLine]:
    ids = [h.id for h in homes]
    if not ids:
        return []
    names: dict[str, list[str]] = {}
    for home_id, name in session.execute(select(Resident.home_id, Resident.name).where(
            Resident.home_id.in_(ids), Resident.left_at.is_(None)).order_by(Resident.id)):
        names.setdefault(home_id, []).append(name)
    open_counts = dict(session.execute(select(Alert.home_id, func.count()).where(
        Alert.home_id.in_(ids), Alert.state.in_(OPEN_STATES)).group_by(Alert.home_id)).all())
    return [HomeLine(id=h.id, address=h.address, postcode=h.postcode, district=h.district,
                     residents=names.get(h.id, []), open_alerts=open_counts.get(h.id, 0)) for h in homes]
