"""Registry schema, migrations and the alert lifecycle on SQLite and the real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecwatch.alerts.lifecycle import TransitionError, raise_alert, transition
from tecwatch.db import make_engine
from tecwatch.ingest.deadletter import DeadLetterStore, dead_letters
from tecwatch.ingest.deadletter import metadata as dead_letter_metadata
from tecwatch.registry.migrate import downgrade, upgrade
from tecwatch.registry.models import (
    Alert, AlertEvent, AlertState, ContactRoute, Device, EscalationChain, EscalationStep, FamilyConsent, Home,
    Outcome, PrimaryNeed, Resident, Responder, ResponderKind,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
TABLES = {"homes", "residents", "family_consents", "devices", "gateways", "responders", "contact_routes",
          "escalation_chains", "escalation_steps", "alerts", "alert_events", "dead_letters", "alembic_version",
          "call_audits"}


def test_migrations_create_every_table_and_run_again_harmlessly(registry_url):
    engine = make_engine(registry_url)
    try:
        upgrade(engine)
        upgrade(engine)  # every start runs it
        assert TABLES <= set(inspect(engine).get_table_names())
        downgrade(engine, "base")
        assert "alerts" not in inspect(engine).get_table_names()
        upgrade(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_database_with_dead_letters_from_before_migrations_is_adopted(registry_url):
    engine = make_engine(registry_url)
    try:
        # How ingest made the table before the registry had migrations.
        dead_letter_metadata.create_all(engine, tables=[dead_letters])
        with engine.begin() as conn:
            conn.execute(dead_letters.insert().values(received_at=T0, topic="t", payload=b"x", reason="not_json",
                                                      detail="d"))
        upgrade(engine)
        assert DeadLetterStore(engine).count_by_reason() == {"not_json": 1}
    finally:
        engine.dispose()


def test_concurrent_starts_migrate_once(registry_url):
    engines = [make_engine(registry_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(e):
        try:
            upgrade(e)
        except BaseException as err:  # noqa: BLE001 - collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert errors == []


def populate(session: Session) -> None:
    home = Home(id="home-1", address="1 Elm Row, Norwich", district="Norwich", postcode_area="NR3", created_at=T0)
    session.add(home)
    session.flush()
    ada = Resident(home_id="home-1", name="Ada Smith", dob_band="85-89", primary_need=PrimaryNeed.DEMENTIA)
    daughter = Responder(name="Jo Smith", kind=ResponderKind.FAMILY)
    centre = Responder(name="Night desk", kind=ResponderKind.OPERATOR)
    session.add_all([ada, daughter, centre])
    session.flush()
    session.add_all([
        FamilyConsent(resident_id=ada.id, responder_id=daughter.id, granted_at=T0),
        ContactRoute(responder_id=daughter.id, kind="apprise", target="mailto://jo@example.org", priority=1),
        ContactRoute(responder_id=daughter.id, kind="webhook", target="http://127.0.0.1:9/hook", priority=0),
        Device(home_id="home-1", device_id="pendant-1", type="pendant", room=None, installed_at=T0),
        Device(home_id="home-1", device_id="pir-hall", type="motion", room="hall", installed_at=T0,
               removed_at=T0 + timedelta(days=3)),
    ])
    chain = EscalationChain(home_id="home-1", name="day", active_from=time(8), active_until=time(22))
    session.add(chain)
    session.flush()
    session.add_all([EscalationStep(chain_id=chain.id, position=1, responder_id=daughter.id, wait_minutes=10),
                     EscalationStep(chain_id=chain.id, position=2, responder_id=centre.id, wait_minutes=5)])


def test_registry_records_round_trip(registry):
    with Session(registry) as s:
        populate(s)
        s.commit()
    with Session(registry) as s:
        home = s.get(Home, "home-1")
        assert home is not None and home.postcode_area == "NR3"
        assert [r.primary_need for r in home.residents] == [PrimaryNeed.DEMENTIA]
        assert sorted(d.device_id for d in home.devices) == ["pendant-1", "pir-hall"]
        jo = s.scalars(select(Responder).where(Responder.name == "Jo Smith")).one()
        assert [r.kind for r in jo.routes] == ["webhook", "apprise"]  # by priority
        chain = s.scalars(select(EscalationChain)).one()
        assert [(st.position, st.wait_minutes) for st in chain.steps] == [(1, 10), (2, 5)]
        assert chain.active_from == time(8)
        assert s.get(Device, 2).removed_at == T0 + timedelta(days=3)
    with Session(registry) as s, pytest.raises(IntegrityError):
        s.add(Device(home_id="home-1", device_id="pendant-1", type="pendant", installed_at=T0))
        s.commit()


def test_one_open_alert_per_home_and_rule_repeats_attach(registry):
    with Session(registry) as s:
        first = raise_alert(s, home_id="home-1", rule="pendant", occurred_at=T0, now=T0, device_id="pendant-1",
                            reason="pendant pressed")
        s.commit()
        again = raise_alert(s, home_id="home-1", rule="pendant", occurred_at=T0 + timedelta(seconds=30),
                            now=T0 + timedelta(seconds=31), device_id="pendant-1")
        other = raise_alert(s, home_id="home-1", rule="flood", occurred_at=T0, now=T0)
        s.commit()
        assert first.new and not again.new and other.new
        assert again.alert.id == first.alert.id and other.alert.id != first.alert.id
        alert = s.get(Alert, first.alert.id)
        assert alert.repeats == 1 and alert.last_seen_at == T0 + timedelta(seconds=30)
        assert alert.priority == 1 and alert.state is AlertState.RAISED
        assert [e.kind for e in alert.events] == ["raised", "repeated"]
        # Once closed, the next press is a new alert.
        transition(s, alert, AlertState.CANCELLED, actor="device", at=T0 + timedelta(minutes=1))
        s.commit()
        fresh = raise_alert(s, home_id="home-1", rule="pendant", occurred_at=T0 + timedelta(minutes=5),
                            now=T0 + timedelta(minutes=5))
        s.commit()
        assert fresh.new and fresh.alert.id != first.alert.id
    # The database itself refuses a second open alert for the same home and rule.
    with Session(registry) as s, pytest.raises(IntegrityError):
        s.add(Alert(home_id="home-1", rule="pendant", priority=1, state=AlertState.ACKNOWLEDGED,
                    occurred_at=T0, raised_at=T0, last_seen_at=T0))
        s.commit()


def test_concurrent_raises_make_one_alert(registry):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def press(n: int) -> None:
        try:
            with Session(registry) as s:
                barrier.wait()
                raise_alert(s, home_id="home-9", rule="fall_detected", occurred_at=T0 + timedelta(seconds=n), now=T0)
                s.commit()
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=press, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(registry) as s:
        alerts = s.scalars(select(Alert).where(Alert.home_id == "home-9")).all()
    if registry.dialect.name == "sqlite":
        # SQLite serialises writers; a loser may see "database is locked" rather than a race.
        errors = [e for e in errors if "locked" not in str(e)]
    assert errors == []
    assert len(alerts) == 1


def test_transitions_are_checked_and_audited(registry):
    with Session(registry) as s:
        alert = raise_alert(s, home_id="home-1", rule="no_activity", occurred_at=T0, now=T0,
                            reason="usually active by 09:00; no activity since 06:10").alert
        s.commit()
        with pytest.raises(TransitionError, match="needs an outcome"):
            transition(s, alert, AlertState.RESOLVED, actor="op-1", at=T0)
        transition(s, alert, AlertState.ACKNOWLEDGED, actor="operator Sam", at=T0 + timedelta(minutes=2))
        with pytest.raises(TransitionError, match="cannot become raised"):
            transition(s, alert, AlertState.RAISED, actor="x", at=T0)
        transition(s, alert, AlertState.RESOLVED, actor="operator Sam", at=T0 + timedelta(minutes=9),
                   outcome=Outcome.RESOLVED_BY_PHONE, note="spoke to Ada, she was asleep in the chair")
        s.commit()
        with pytest.raises(TransitionError, match="is resolved"):
            transition(s, alert, AlertState.CANCELLED, actor="x", at=T0)
    with Session(registry) as s:
        alert = s.get(Alert, alert.id)
        assert alert.acknowledged_by == "operator Sam" and alert.outcome is Outcome.RESOLVED_BY_PHONE
        assert alert.closed_at == T0 + timedelta(minutes=9)
        trail = [(e.kind, e.from_state, e.to_state, e.actor) for e in alert.events]
        assert trail == [
            ("raised", None, AlertState.RAISED, "alert-engine"),
            ("acknowledged", AlertState.RAISED, AlertState.ACKNOWLEDGED, "operator Sam"),
            ("resolved", AlertState.ACKNOWLEDGED, AlertState.RESOLVED, "operator Sam"),
        ]
        assert s.scalars(select(AlertEvent).where(AlertEvent.kind == "resolved")).one().detail == {
            "outcome": "resolved_by_phone"}


def test_the_migrations_match_the_models(registry):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tecwatch.registry.models import Base

    with registry.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # dead_letters belongs to ingest's own table definition, not the ORM models.
    diff = [d for d in diff if not (d[0] in ("remove_table", "remove_index") and "dead_letters" in str(d[1]))]
    assert diff == []


def test_a_registry_with_people_in_it_upgrades_to_the_latest_schema(registry_url):
    """Migrations that rebuild a table (as SQLite needs to change one) keep every row, and
    every reference between rows, of a registry already in use."""
    engine = make_engine(registry_url)
    try:
        upgrade(engine, "0007")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO homes (id, address, district, postcode_area, timezone, created_at) "
                              "VALUES ('h1', '1 Lane', 'Norwich', 'NR1', 'Europe/London', :t)"), {"t": T0})
            conn.execute(text("INSERT INTO residents (home_id, name, dob_band, primary_need) "
                              "VALUES ('h1', 'Ann Example', '80-84', 'frailty')"))
            conn.execute(text("INSERT INTO devices (home_id, device_id, type, room, installed_at) "
                              "VALUES ('h1', 'pir-hall', 'motion', 'hall', :t)"), {"t": T0})
        upgrade(engine)
        with Session(engine) as s:
            [ann] = s.scalars(select(Resident)).all()
            assert (ann.name, ann.home_id, ann.home.district) == ("Ann Example", "h1", "Norwich")
            assert [d.device_id for d in s.scalars(select(Device))] == ["pir-hall"]
    finally:
        engine.dispose()


def test_call_audits_come_and_go_with_migration_0010(registry_url):
    """0010 adds the call audits beside a registry in use, and going back to 0009 removes them
    and nothing else."""
    engine = make_engine(registry_url)
    try:
        upgrade(engine, "0009")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO alerts (id, home_id, rule, priority, state, reason, detail, occurred_at, "
                              "raised_at, last_seen_at, repeats, escalation_step) VALUES (1, 'h1', 'pendant', 1, "
                              "'resolved', 'Pendant pressed', '{}', :t, :t, :t, 0, 0)"), {"t": T0})
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO call_audits (alert_id, handler, auditor, audited_at, greeting_identity, "
                              "correct_action, trail_complete, score) VALUES (1, 'operator', 'admin', :t, true, true, "
                              "false, 4)"), {"t": T0})
            with pytest.raises(IntegrityError):  # one audit per call and handler
                with conn.begin_nested():
                    conn.execute(text("INSERT INTO call_audits (alert_id, handler, auditor, audited_at, "
                                      "greeting_identity, correct_action, trail_complete, score) VALUES (1, "
                                      "'operator', 'admin', :t, true, true, true, 5)"), {"t": T0})
            assert conn.execute(text("SELECT note, score FROM call_audits")).one() == ("", 4)
        downgrade(engine, "0009")
        assert "call_audits" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT reason FROM alerts")).scalar_one() == "Pendant pressed"
        upgrade(engine)
        assert "call_audits" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
