"""Erasing a resident over the real API (SQLite and PostgreSQL registries, the SQLite store): their
personal data goes, and every commissioner report reads exactly as before."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.devices import Channel, make_reading
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.registry.models import AccessLog, Alert, AlertEvent, FamilyConsent, Home, HomeBaseline, LeftReason, Outcome, Resident

from apisupport import api_server, seed_cast, signed_in

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
REPORTS = ["reach?day=2026-06-01", "reach/monthly?start=2026-01-01&end=2026-07-01", "reach/per-1000?day=2026-06-01",
           "alert-rates?start=2026-01-01&end=2026-07-01", "acknowledgement?start=2026-01-01&end=2026-07-01",
           "outcomes?start=2026-01-01&end=2026-07-01", "still-at-home?day=2027-06-01",
           "device-faults?start=2026-01-01&end=2026-07-01"]


def _history(engine, store, registry_url) -> None:
    """Answered alerts with notes naming people, a learned routine and readings, in both homes."""
    for home, at in (("home-1", T0), ("home-2", T0 + timedelta(days=3)), ("home-1", T0 + timedelta(days=40))):
        [alert_id] = AlertEngine(engine, clock=lambda at=at: at).raise_hits(
            [RuleHit(home, "pendant", at, "Pendant pressed", {}, "pendant-1")])
        service.acknowledge(engine, alert_id, "operator (operator)", "calling Arthur's daughter", at=at + timedelta(seconds=40))
        service.resolve(engine, alert_id, "operator (operator)", Outcome.RESOLVED_BY_PHONE, "Arthur is fine",
                        at=at + timedelta(minutes=9))
    with Session(engine) as s, s.begin():
        for home in ("home-1", "home-2"):
            s.add(HomeBaseline(home_id=home, learned_at=T0, learned=True, days_of_history=28, wake_median_min=420,
                               up_by_min=450, bed_median_min=1320, active_by_hour={}, summary={}))
    store.write([make_reading(home_id=h, device_id="pir-lounge", device_type="motion", channel=Channel.READING,
                              ts=T0 + timedelta(hours=i), seq=i, room="lounge", values={"occupancy": True})
                 for i in range(5) for h in ("home-1", "home-2")])


def test_erasing_a_resident_keeps_every_report_the_same(registry, registry_url, tmp_path):
    cast = seed_cast(registry)
    store = SQLiteStore(tmp_path / "readings.db")
    _history(registry, store, registry_url)
    with Session(registry) as s, s.begin():  # Arthur moved to his daughter's in May
        arthur = s.get(Resident, cast.arthur_id)
        arthur.left_at, arthur.left_reason = datetime(2026, 5, 1, 12, tzinfo=timezone.utc), LeftReason.MOVED_AWAY
    with api_server(registry_url, tmp_path) as (base_url, _settings):
        commissioner, admin = signed_in(base_url, "commissioner"), signed_in(base_url, "admin")
        before = {r: commissioner.get(f"/api/reports/{r}").json() for r in REPORTS}
        assert before["outcomes?start=2026-01-01&end=2026-07-01"]["resolved"] == 3

        still_there = admin.post(f"/api/admin/residents/{cast.beryl_id}/erase", json={})
        assert still_there.status_code == 409 and "left_reason" in still_there.json()["detail"]
        erased = admin.post(f"/api/admin/residents/{cast.arthur_id}/erase", json={})
        assert erased.status_code == 200, erased.text
        assert erased.json() == {"resident_id": cast.arthur_id, "home_id": "home-1", "home_erased": True,
                                 "readings_deleted": 5}
        assert admin.post(f"/api/admin/residents/{cast.arthur_id}/erase", json={}).status_code == 409  # once
        assert signed_in(base_url, "operator").post(f"/api/admin/residents/{cast.beryl_id}/erase",
                                                    json={"left_reason": "died"}).status_code == 403

        after = {r: commissioner.get(f"/api/reports/{r}").json() for r in REPORTS}
        assert after == before
        family = signed_in(base_url, "family-1")  # Arthur's daughter no longer sees him
        assert family.get("/api/family/residents").json()["items"] == []

    with Session(registry) as s:
        arthur, beryl = s.get(Resident, cast.arthur_id), s.get(Resident, cast.beryl_id)
        assert (arthur.name, arthur.dob_band, arthur.primary_need.value) == ("(erased)", "", "dementia")
        assert arthur.left_reason.value == "moved_away" and arthur.left_at.date() == date(2026, 5, 1)
        assert s.get(Home, "home-1").address == "" and s.get(Home, "home-1").district == "Norwich"
        assert s.get(HomeBaseline, "home-1") is None and s.get(HomeBaseline, "home-2") is not None
        assert s.scalars(select(FamilyConsent).where(FamilyConsent.resident_id == arthur.id)).all() == []
        notes = s.execute(select(Alert.home_id, AlertEvent.note).join(Alert, Alert.id == AlertEvent.alert_id)
                          .where(AlertEvent.note != "")).all()
        assert {n for h, n in notes if h == "home-1"} == {"(erased)"}
        assert {n for h, n in notes if h == "home-2"} == {"Pendant pressed", "calling Arthur's daughter", "Arthur is fine"}
        # Beryl and her home are untouched.
        assert beryl.name == "Beryl Example" and s.get(Home, "home-2").address == "1 Beryl Lane"
        assert s.scalar(select(AccessLog.action).where(AccessLog.action == "erase resident")) == "erase resident"
    assert store.readings("home-1", T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
    assert len(store.readings("home-2", T0 - timedelta(days=1), T0 + timedelta(days=1))) == 5
    store.close()


def test_someone_still_at_home_can_be_erased_once_their_leaving_is_given(registry, registry_url, tmp_path):
    cast = seed_cast(registry)
    with api_server(registry_url, tmp_path) as (base_url, _settings):
        admin = signed_in(base_url, "admin")
        bad = admin.post(f"/api/admin/residents/{cast.beryl_id}/erase", json={"left_reason": "went fishing"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "left_reason"
        done = admin.post(f"/api/admin/residents/{cast.beryl_id}/erase", json={"left_reason": "service_ended"})
        assert done.status_code == 200 and done.json()["home_erased"] is True
        assert admin.post("/api/admin/residents/999/erase", json={}).status_code == 404
    with Session(registry) as s:
        beryl = s.get(Resident, cast.beryl_id)
        assert beryl.left_reason is LeftReason.SERVICE_ENDED and beryl.left_at is not None
