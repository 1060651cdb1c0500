"""Erasing a resident over the real API (SQLite and PostgreSQL registries, the SQLite store): their
personal data goes, and every commissioner report reads exactly as before."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.scheduler import RuleRunner
from tecwatch.alerts.signalcache import DayCache
from tecwatch.api import outcomes, reach, timings
from tecwatch.api.responsetimes import alert_times
from tecwatch.devices import Channel, make_reading
from tecwatch.ingest.deadletter import DeadLetterStore, dead_letter
from tecwatch.registry import erasure
from tecwatch.settings import AlertSettings
from tecwatch.store.sqlite import SQLiteStore
from tecwatch.registry.models import (
    AccessLog, Alert, AlertEvent, Device, FamilyConsent, Home, HomeBaseline, LeftReason, Outcome, Resident,
)

from apisupport import T_INSTALL, api_server, seed_cast, signed_in

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


def _raw_reports(engine) -> dict[str, object]:
    """The figures of every report as computed, not yet through small-number suppression."""
    start, end, day = date(2026, 1, 1), date(2026, 7, 1), date(2026, 6, 1)
    with Session(engine) as s:
        reports = {"reach": reach.reach_on(s, day), "monthly": reach.reach_by_month(s, start, end),
                   "per-1000": reach.reach_per_thousand(s, day),
                   "alert-rates": outcomes.alerts_per_100_homes(s, start, end),
                   "acknowledgement": outcomes.time_to_acknowledge(s, start, end),
                   "outcomes": outcomes.outcome_distribution(s, start, end),
                   "still-at-home": outcomes.still_at_home(s, date(2027, 6, 1)),
                   "device-faults": outcomes.device_fault_rates(s, start, end)}
        times = alert_times(s, start, end, None)
        timed = {name: count(times) for name, count in (("answer", timings.answer_counts), (
            "attend", timings.attend_counts), ("to-outcome", timings.outcome_counts))}
        return {name: [row.model_dump() for row in r] if isinstance(r, list) else r.model_dump()
                for name, r in reports.items()} | timed


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
        assert before["outcomes?start=2026-01-01&end=2026-07-01"]["resolved"] == "<5"  # published: 3 is withheld
        raw_before = _raw_reports(registry)
        assert raw_before["outcomes"]["resolved"] == 3

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
        assert _raw_reports(registry) == raw_before  # every figure, before small numbers are withheld
        family = signed_in(base_url, "family-1")  # Arthur's daughter no longer sees him
        assert family.get("/api/family/residents").json()["items"] == []

    with Session(registry) as s:
        arthur, beryl = s.get(Resident, cast.arthur_id), s.get(Resident, cast.beryl_id)
        assert (arthur.name, arthur.dob_band, arthur.primary_need.value) == ("(erased)", "", "dementia")
        assert arthur.left_reason.value == "moved_away" and arthur.left_at.date() == date(2026, 5, 1)
        # The home lives on under an opaque id, with what the reports count and nothing else.
        assert s.get(Home, "home-1") is None
        home = s.get(Home, arthur.home_id)
        assert home.id.startswith("erased-") and len(home.id) == len("erased-") + 16
        assert (home.address, home.district, home.postcode_area, home.created_at) == ("", "Norwich", "NR1", T_INSTALL)
        assert [d.device_id for d in s.scalars(select(Device).where(Device.home_id == home.id))] == ["pir-lounge"]
        assert s.scalars(select(Alert.home_id).where(Alert.home_id == "home-1")).all() == []
        assert s.get(HomeBaseline, "home-1") is None and s.get(HomeBaseline, "home-2") is not None
        assert s.scalars(select(FamilyConsent).where(FamilyConsent.resident_id == arthur.id)).all() == []
        notes = s.execute(select(Alert.home_id, AlertEvent.note).join(Alert, Alert.id == AlertEvent.alert_id)
                          .where(AlertEvent.note != "")).all()
        assert {n for h, n in notes if h == home.id} == {"(erased)"}
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


def test_a_home_someone_still_lives_in_keeps_its_id_and_address(registry, tmp_path):
    """Erasing one of two people at a home takes their name out of every alert's text, in any home,
    and leaves the home as it is; erasing the second then erases the home."""
    cast = seed_cast(registry)
    store = SQLiteStore(tmp_path / "readings.db")
    cache = DayCache(tmp_path / "signals")
    with Session(registry) as s, s.begin():
        s.add(Resident(home_id="home-1", name="Doris Example", dob_band="75-79"))
    [own, other] = [AlertEngine(registry, clock=lambda: T0).raise_hits([RuleHit(h, "pendant", T0, "Pendant", {})])[0]
                    for h in ("home-1", "home-2")]
    service.note(registry, own, "operator (operator)", "ARTHUR EXAMPLE's neighbour has a key", at=T0)
    service.note(registry, other, "operator (operator)", "Beryl asked after Arthur Example; key at 1 Arthur Lane",
                 at=T0)
    store.write([make_reading(home_id="home-1", device_id="pir-lounge", device_type="motion", channel=Channel.READING,
                              ts=T0, seq=1, room="lounge", values={"occupancy": True})])
    try:
        with Session(registry) as s, s.begin():
            out = erasure.erase_resident(s, store, cast.arthur_id, day_cache=cache, left_reason=LeftReason.DIED,
                                         now=T0 + timedelta(days=1))
        assert (out.home_erased, out.readings_deleted) == (False, None)
        with Session(registry) as s:
            home = s.get(Home, "home-1")
            assert home.address == "1 Arthur Lane" and s.get(Resident, cast.arthur_id).home_id == "home-1"
            notes = set(s.scalars(select(AlertEvent.note).where(AlertEvent.kind == "note")))
        assert notes == {"(erased)'s neighbour has a key", "Beryl asked after (erased); key at 1 Arthur Lane"}
        assert len(store.readings("home-1", T0, T0 + timedelta(seconds=1))) == 1

        doris = _resident_id(registry, "Doris Example")
        with Session(registry) as s, s.begin():
            out = erasure.erase_resident(s, store, doris, day_cache=cache, left_reason=LeftReason.RESIDENTIAL_CARE,
                                         now=T0 + timedelta(days=2))
        assert (out.home_erased, out.readings_deleted) == (True, 1)
        with Session(registry) as s:
            assert s.get(Home, "home-1") is None
            assert {r.home_id for r in s.scalars(select(Resident).where(Resident.name == "(erased)"))} == {
                s.get(Resident, doris).home_id}
            notes = set(s.scalars(select(AlertEvent.note).where(AlertEvent.kind == "note")))
        assert notes == {"(erased)", "Beryl asked after (erased); key at (erased)"}
    finally:
        store.close()


def _resident_id(engine, name: str) -> int:
    with Session(engine) as s:
        return s.scalar(select(Resident.id).where(Resident.name == name))


def test_an_alert_worker_elsewhere_drops_an_erased_home_from_its_day_cache_at_its_next_pass(registry, tmp_path):
    """A worker whose data directory the API cannot reach: once the home's id is gone from the
    registry (and its readings from the store), the worker's next minute pass learns again and
    takes the home out of every day it keeps."""
    now = datetime(2026, 11, 20, 3, 30, tzinfo=timezone.utc)
    with Session(registry) as s, s.begin():
        s.add_all([Home(id="home-1", created_at=T_INSTALL), Home(id="home-2", created_at=T_INSTALL)])
    store = SQLiteStore(tmp_path / "readings.db")
    cache = DayCache(tmp_path / "worker" / "signals")
    clock = [now]
    runner = RuleRunner(store, registry, AlertEngine(registry, clock=lambda: clock[0]), AlertSettings(),
                        clock=lambda: clock[0], cache=cache)
    try:
        runner.learn_baselines()  # the nightly learning, while home-1 exists
        days = sorted(cache.directory.glob("signals-*.npz"))
        assert len(days) == 28 and all("home-1".encode("utf-32-le") in p.read_bytes() for p in days)
        # The erasure replaced the home's id; its new one may be another worker's, so all this
        # worker sees is that home-1 is gone.
        with Session(registry) as s, s.begin():
            s.execute(delete(Home).where(Home.id == "home-1"))
        clock[0] += timedelta(minutes=1)
        runner.pattern_pass()
    finally:
        store.close()
    assert sorted(cache.directory.iterdir()) == days
    for path in days:
        assert "home-1".encode("utf-32-le") not in path.read_bytes()
        with np.load(path) as f:
            assert "home-1" not in f["home_ids"].tolist() and "home-2" in f["home_ids"].tolist()


def test_a_homes_dead_letters_are_those_on_its_topics_or_claiming_to_be_from_it(registry):
    letters = DeadLetterStore(registry)
    sent = [("tec/v1/home-1/pir-lounge/reading", "not_json", "not JSON"),
            ("tec/v1/home-1", "bad_topic", "too few parts"),
            ("tec/v1/home-2/pir-lounge/reading", "home_mismatch", "payload home_id 'home-1' but topic home 'home-2'"),
            ("tec/v1/home-10/pir-lounge/reading", "not_json", "not JSON"),
            ("tec/v1/HOME-1/pir-lounge/reading", "not_json", "not JSON"),
            ("tec/v1/home_1/pir-lounge/reading", "not_json", "not JSON")]
    letters.add([dead_letter(topic, b"{", reason, detail, T0) for topic, reason, detail in sent])
    assert letters.delete_home("home-1") == 3
    assert sorted(d.topic for d in letters.list()) == ["tec/v1/HOME-1/pir-lounge/reading",
                                                      "tec/v1/home-10/pir-lounge/reading",
                                                      "tec/v1/home_1/pir-lounge/reading"]
