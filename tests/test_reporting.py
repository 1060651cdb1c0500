"""Commissioner reports on a small hand-checked registry, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.service import slow_acknowledgements
from tecwatch.api.outcomes import (
    AckTimes, OutcomeDistribution, alerts_per_100_homes, device_fault_rates, outcome_distribution, still_at_home,
    time_to_acknowledge,
)
from tecwatch.api.reach import (
    DistrictReach, MonthReach, load_population_csv, reach_by_month, reach_on, reach_per_thousand,
)
from tecwatch.api.disclosure import Table, mark, withheld
from tecwatch.api.reporting import ReportInputError, midnight, to_csv
from tecwatch.registry.models import (
    Alert, AlertEvent, AlertState, Device, DistrictPopulation, Gateway, Home, LeftReason, Outcome, PrimaryNeed, Resident,
)
from tecwatch.settings import ApiSettings

NAMES = ["Ada Quillfeather", "Brian Marchbank", "Cora Whitlow", "Dev Okonkwo-Tarr", "Edith Pembleton",
         "Fay Rosslyn", "Gus Halloran"]
ADDRESS = "Secret Lane"


def at(y: int, m: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, s, tzinfo=UTC)


# (home, district, devices: (device_id, type, installed, removed), residents: (name, need, left_at, reason))
HOMES = [
    ("H1", "Norwich", [("pendant-1", "pendant", at(2026, 1, 10, 9), None),
                       # removed exactly at the end of February
                       ("pir-hall", "motion", at(2026, 1, 10, 9), at(2026, 3, 1, 0))],
     [(NAMES[0], PrimaryNeed.DEMENTIA, None, None)]),
    ("H2", "Norwich", [("pendant-1", "pendant", at(2026, 2, 5, 10), at(2026, 3, 31, 23, 59, 59))],
     # left exactly 91 days after installation: not still at home at 91 days
     [(NAMES[1], PrimaryNeed.FRAILTY, at(2026, 2, 5, 10) + timedelta(days=91), LeftReason.RESIDENTIAL_CARE)]),
    ("H3", "Broadland", [("pendant-1", "pendant", at(2026, 1, 20), at(2026, 4, 1, 0)),
                         ("pir-lounge", "motion", at(2026, 3, 15), at(2026, 4, 1, 0))],
     []),  # no residents
    ("H4", "Broadland", [("pendant-1", "pendant", at(2025, 6, 1), None)],
     [(NAMES[2], PrimaryNeed.FRAILTY, at(2025, 12, 1), LeftReason.DIED),
      (NAMES[3], PrimaryNeed.PHYSICAL_DISABILITY, None, None)]),
    ("H5", "Breckland", [("fall-1", "fall_detector", at(2026, 3, 10), None)],
     [(NAMES[4], PrimaryNeed.MENTAL_HEALTH, at(2026, 3, 20), LeftReason.SERVICE_ENDED)]),
    ("H6", "Norwich", [("pendant-1", "pendant", at(2026, 5, 10), None)],
     [(NAMES[6], PrimaryNeed.OTHER, None, None)]),
    # all devices removed, then a new one after a gap
    ("H7", "Norwich", [("pendant-1", "pendant", at(2026, 1, 5), at(2026, 2, 10)),
                       ("pendant-2", "pendant", at(2026, 3, 3), None)],
     [(NAMES[5], PrimaryNeed.DEMENTIA, None, None)]),
]
GATEWAYS = [("H1", at(2026, 1, 10, 9)), ("H4", at(2025, 6, 1))]
# (home, rule, priority, state, device_id, raised_at, seconds to acknowledge or None, outcome)
ALERTS = [
    ("H1", "pendant", 1, AlertState.RESOLVED, "pendant-1", at(2026, 3, 2, 10), 30, Outcome.RESPONDER_ATTENDED),
    ("H1", "pendant", 1, AlertState.RESOLVED, "pendant-1", at(2026, 3, 5, 10), 60, Outcome.FALSE_ALARM),
    ("H3", "pendant", 1, AlertState.RESOLVED, "pendant-1", at(2026, 3, 10, 10), 120, Outcome.RESOLVED_BY_PHONE),
    ("H4", "pendant", 1, AlertState.RESOLVED, "pendant-1", at(2026, 3, 12, 10), 180, Outcome.AMBULANCE_CALLED),
    ("H5", "fall_detected", 1, AlertState.RESOLVED, "fall-1", at(2026, 3, 20, 10), 300, Outcome.HOSPITAL_ADMISSION),
    ("H7", "pendant", 1, AlertState.CANCELLED, "pendant-2", at(2026, 3, 25, 10), None, None),
    ("H1", "device_silent", 3, AlertState.RESOLVED, "pendant-1", at(2026, 3, 3, 10), 600, Outcome.TECHNICAL_FIXED),
    ("H4", "hub_offline", 3, AlertState.RESOLVED, "gateway", at(2026, 3, 15, 10), None, Outcome.TECHNICAL_FIXED),
    ("H3", "low_battery", 4, AlertState.RAISED, "pir-lounge", at(2026, 3, 28, 10), None, None),
    ("H1", "pendant", 1, AlertState.RESOLVED, "pendant-1", at(2026, 4, 2, 10), 45, Outcome.ADMISSION_AVOIDED),
    ("H5", "device_silent", 3, AlertState.RESOLVED, "fall-9", at(2026, 4, 3, 10), 90, Outcome.TECHNICAL_FIXED),
    ("H2", "pendant", 1, AlertState.RESOLVED, "pendant-1", at(2026, 2, 10, 10), 20, Outcome.FALSE_ALARM),
]
POPULATION_CSV = "\ufeff district , aged_65_plus \n Norwich , 19000 \nBroadland,40000\n\nGreat Yarmouth,25000\n"


def seed(s: Session) -> None:
    """The homes, gateways, alerts and populations above (the caller commits)."""
    for home_id, district, devices, residents in HOMES:
        s.add(Home(id=home_id, address=f"1 {ADDRESS}, {district}", district=district, postcode_area="NR1",
                   created_at=at(2025, 1, 1)))
        s.flush()
        s.add_all(Device(home_id=home_id, device_id=d, type=t, installed_at=i, removed_at=r)
                  for d, t, i, r in devices)
        s.add_all(Resident(home_id=home_id, name=n, primary_need=need, left_at=left, left_reason=why)
                  for n, need, left, why in residents)
    s.add_all(Gateway(home_id=h, broker_username=f"gw-{h}", installed_at=i) for h, i in GATEWAYS)
    for home_id, rule, priority, state, device_id, raised, ack_s, outcome in ALERTS:
        acked = raised + timedelta(seconds=ack_s) if ack_s is not None else None
        closed = None if state is AlertState.RAISED else raised + timedelta(minutes=20)
        s.add(Alert(home_id=home_id, rule=rule, priority=priority, state=state, device_id=device_id,
                    reason="test", occurred_at=raised, raised_at=raised, last_seen_at=raised,
                    acknowledged_at=acked, acknowledged_by="op (operator)" if acked else None, closed_at=closed,
                    outcome=outcome))
    assert load_population_csv(s, POPULATION_CSV, "ONS 2024", now=at(2026, 1, 1)) == 3


@pytest.fixture
def session(registry):
    with Session(registry) as s:
        seed(s)
        s.commit()
        yield s


def test_reach_on_a_day_by_district_device_type_and_need(session):
    r = reach_on(session, date(2026, 3, 31))
    # H2's device went on the evening of the 31st; H3's at midnight after it (still there that day).
    assert r.homes == 5
    assert r.by_district == {"Breckland": 1, "Broadland": 2, "Norwich": 2}
    assert r.by_device_type == {"fall_detector": 1, "motion": 1, "pendant": 4}
    # H3 has no residents; H5's only resident left on the 20th.
    assert r.by_primary_need == {"dementia": 2, "physical_disability": 1, "unknown": 2}
    rows = [(row.day, row.breakdown, row.key, row.homes) for row in r.rows()]
    assert rows[:2] == [(date(2026, 3, 31), "total", "all", 5), (date(2026, 3, 31), "district", "Breckland", 1)]
    assert len(rows) == 1 + 3 + 3 + 3
    assert sum(n for _, part, _, n in rows if part == "district") == 5


def test_reach_on_a_device_removed_exactly_at_month_end(session):
    feb = reach_on(session, date(2026, 2, 28))
    mar = reach_on(session, date(2026, 3, 1))
    assert feb.by_device_type == {"motion": 1, "pendant": 4}
    assert mar.by_device_type == {"pendant": 4}
    assert (feb.homes, mar.homes) == (4, 4)


def test_reach_on_with_a_district_filter_and_before_anything(session):
    r = reach_on(session, date(2026, 3, 31), district="Norwich")
    assert (r.homes, r.by_district, r.by_device_type, r.by_primary_need) == (
        2, {"Norwich": 2}, {"pendant": 2}, {"dementia": 2})
    empty = reach_on(session, date(2020, 1, 1))
    assert (empty.homes, empty.by_district, empty.by_device_type, empty.by_primary_need) == (0, {}, {}, {})
    assert reach_on(session, date(2026, 3, 31), district="Nowhere").homes == 0


def month_rows(rows: list[MonthReach]) -> list[tuple]:
    return [(m.month, m.homes_active_at_end, m.new_homes, m.ended_homes, m.net_growth) for m in rows]


def test_reach_by_month(session):
    assert month_rows(reach_by_month(session, date(2026, 1, 1), date(2026, 5, 1))) == [
        ("2026-01", 4, 3, 0, 3),
        ("2026-02", 4, 1, 1, 0),  # H7 ended, H2 began
        ("2026-03", 5, 2, 1, 1),  # H5 and H7 (again) began; H2 ended late on the 31st
        ("2026-04", 4, 0, 1, -1),  # H3's devices were removed at midnight ending March
    ]
    assert month_rows(reach_by_month(session, date(2026, 1, 1), date(2026, 5, 1), district="Norwich")) == [
        ("2026-01", 2, 2, 0, 2), ("2026-02", 2, 1, 1, 0), ("2026-03", 2, 1, 1, 0), ("2026-04", 2, 0, 0, 0)]


def test_reach_by_month_partial_months_and_empty_ranges(session):
    assert month_rows(reach_by_month(session, date(2026, 3, 15), date(2026, 4, 10))) == [
        ("2026-03", 5, 0, 1, -1), ("2026-04", 4, 0, 1, -1)]
    assert reach_by_month(session, date(2026, 3, 1), date(2026, 3, 1)) == []
    with pytest.raises(ReportInputError, match="start 2026-04-01 is after end 2026-03-01"):
        reach_by_month(session, date(2026, 4, 1), date(2026, 3, 1))


def test_reach_per_thousand_aged_65_plus(session):
    got = [(d.district, d.homes_active, d.aged_65_plus, d.homes_per_1000_aged_65_plus)
           for d in reach_per_thousand(session, date(2026, 3, 31))]
    assert got == [
        ("Breckland", 1, None, None),  # no population figure
        ("Broadland", 2, 40000, 0.05),
        ("Great Yarmouth", 0, 25000, 0.0),
        ("Norwich", 2, 19000, 0.11),
    ]
    only = reach_per_thousand(session, date(2026, 3, 31), district="Broadland")
    assert [(d.district, d.homes_active) for d in only] == [("Broadland", 2)]


def test_population_csv_upserts_and_is_all_or_nothing(session):
    assert load_population_csv(session, "district,aged_65_plus\r\nNorwich,20000\r\nNorth Norfolk,30000\r\n",
                               "ONS 2025") == 2
    session.commit()
    pops = {p.district: (p.aged_65_plus, p.source) for p in session.scalars(select(DistrictPopulation))}
    assert pops == {"Norwich": (20000, "ONS 2025"), "Broadland": (40000, "ONS 2024"),
                    "Great Yarmouth": (25000, "ONS 2024"), "North Norfolk": (30000, "ONS 2025")}
    with pytest.raises(ReportInputError, match="line 4"):
        load_population_csv(session, "district,aged_65_plus\nNorwich,1\nBroadland,2\nOops,x\n", "bad")
    session.commit()
    assert session.get(DistrictPopulation, "Norwich").aged_65_plus == 20000
    assert session.get(DistrictPopulation, "Broadland").aged_65_plus == 40000
    assert load_population_csv(session, "district,aged_65_plus\n", "empty") == 0


@pytest.mark.parametrize(("text", "error"), [
    ("district,population\nNorwich,1\n", "line 1: missing column 'aged_65_plus'"),
    ("aged_65_plus\n5\n", "line 1: missing column 'district'"),
    ("district,aged_65_plus\nNorwich,12.5\n", "line 2: aged_65_plus must be a whole number, got '12.5'"),
    ("district,aged_65_plus\nNorwich,\n", "line 2: aged_65_plus must be a whole number, got ''"),
    ("district,aged_65_plus\nNorwich,1\nBroadland,-5\n", "line 3: aged_65_plus must not be negative, got '-5'"),
    ("district,aged_65_plus\n  ,5\n", "line 2: empty district"),
    ("district,aged_65_plus\nNorwich,1\n\nNorwich,2\n", "line 4: district 'Norwich' is repeated \\(first on line 2\\)"),
    ("district,aged_65_plus\nNorwich\n", "line 2: missing column 'aged_65_plus'"),
    ("district,aged_65_plus\nNorwich,12,345\n", "line 2: 3 values but the header has 2 columns"),
    ("district,aged_65_plus\nNorwich,99999999999\n", "line 2: aged_65_plus 99999999999 is too large"),
    ("", "line 1: missing header"),
])
def test_population_csv_rejects_bad_lines_clearly(session, text, error):
    with pytest.raises(ReportInputError, match=error):
        load_population_csv(session, text, "bad")
    session.rollback()
    assert session.get(DistrictPopulation, "Norwich").aged_65_plus == 19000


def test_alerts_per_100_homes(session):
    rows = alerts_per_100_homes(session, date(2026, 2, 1), date(2026, 5, 1))
    got = {(r.month, r.rule): (r.alerts, r.homes_active_at_end, r.alerts_per_100_homes) for r in rows}
    assert len(rows) == 15  # 3 months x 5 rules seen in the range
    assert got[("2026-02", "pendant")] == (1, 4, 25.0)
    assert got[("2026-02", "fall_detected")] == (0, 4, 0.0)
    assert {rule: v for (month, rule), v in got.items() if month == "2026-03"} == {
        "pendant": (5, 5, 100.0), "fall_detected": (1, 5, 20.0), "device_silent": (1, 5, 20.0),
        "hub_offline": (1, 5, 20.0), "low_battery": (1, 5, 20.0)}
    assert got[("2026-04", "pendant")] == (1, 4, 25.0)
    assert got[("2026-04", "device_silent")] == (1, 4, 25.0)
    assert sum(r.alerts for r in rows) == 12


def test_alerts_per_100_homes_in_a_district_and_an_empty_range(session):
    rows = alerts_per_100_homes(session, date(2026, 3, 1), date(2026, 4, 1), district="Broadland")
    assert [(r.month, r.rule, r.alerts, r.homes_active_at_end, r.alerts_per_100_homes) for r in rows] == [
        ("2026-03", "hub_offline", 1, 2, 50.0), ("2026-03", "low_battery", 1, 2, 50.0),
        ("2026-03", "pendant", 2, 2, 100.0)]
    assert alerts_per_100_homes(session, date(2026, 3, 1), date(2026, 3, 1)) == []
    assert alerts_per_100_homes(session, date(2026, 2, 1), date(2026, 3, 1), district="Breckland") == []


def test_time_to_acknowledge(session):
    r = time_to_acknowledge(session, date(2026, 3, 1), date(2026, 4, 1))
    # Exactly 60 s and exactly 180 s are within target; the shares are of the 6 answered and the 2
    # never answered (misses).
    assert (r.alerts, r.acknowledged, r.within_60s, r.within_180s, r.over_180s, r.share_within_60s,
            r.share_within_180s) == (8, 6, 2, 4, 2, 0.25, 0.5)
    assert (r.median_seconds, r.p90_seconds) == (150.0, 450.0)
    assert (r.never_acknowledged, r.awaiting_acknowledgement) == (2, 1)
    assert r.rows() == [r]  # one row: counts, never the alerts
    everything = time_to_acknowledge(session)
    assert (everything.acknowledged, everything.within_60s, everything.within_180s, everything.over_180s) == (
        9, 4, 7, 2)
    assert (everything.median_seconds, everything.p90_seconds) == (90.0, 360.0)


def test_time_to_acknowledge_in_a_district_and_an_empty_range(session):
    r = time_to_acknowledge(session, date(2026, 3, 1), date(2026, 4, 1), district="Norwich")
    assert (r.acknowledged, r.over_180s, r.median_seconds, r.p90_seconds, r.never_acknowledged,
            r.awaiting_acknowledgement) == (3, 1, 60.0, 492.0, 1, 0)
    empty = time_to_acknowledge(session, date(2026, 3, 1), date(2026, 3, 1))
    assert empty == AckTimes(
        start=date(2026, 3, 1), end=date(2026, 3, 1), district=None, alerts=0, acknowledged=0, within_60s=0,
        within_180s=0, over_180s=0, share_within_60s=None, share_within_180s=None, median_seconds=None,
        p90_seconds=None, never_acknowledged=0, acknowledged_by_family_only=0, awaiting_acknowledgement=0)


def test_the_slow_acknowledgements_are_listed_for_the_monitoring_centre(registry, session):
    page = slow_acknowledgements(registry, midnight(date(2026, 3, 1)), midnight(date(2026, 4, 1)))
    assert [(a.home_id, a.rule, a.priority, a.raised_at, a.seconds) for a in page.items] == [
        ("H1", "device_silent", 3, at(2026, 3, 3, 10), 600.0), ("H5", "fall_detected", 1, at(2026, 3, 20, 10), 300.0)]
    assert (page.total, page.items[0].acknowledged_at, page.items[0].acknowledged_by) == (
        2, at(2026, 3, 3, 10, 10), "op (operator)")
    # Exactly 180 s is within target, so not listed; a page at a time, over every day when no range is given.
    assert slow_acknowledgements(registry, over_s=179.9).total == 3
    second = slow_acknowledgements(registry, limit=1, offset=1)
    assert ([a.home_id for a in second.items], second.total) == (["H5"], 2)
    assert slow_acknowledgements(registry, midnight(date(2026, 4, 1))).items == []


def test_a_family_acknowledgement_is_not_the_centre_answering(registry, session):
    """A family member acknowledged at 30 s; the operator's first act (a note) came at 400 s, so
    the centre answered late and the alert is listed, with the operator and the time they acted.
    One only a family member ever acknowledged is not in the list (the centre never answered)."""
    raised = at(2026, 5, 4, 9)
    for home_id, staff_s in (("H1", 400), ("H2", None)):
        alert = Alert(home_id=home_id, rule="not_up", priority=2, state=AlertState.ACKNOWLEDGED, reason="test",
                      occurred_at=raised, raised_at=raised, last_seen_at=raised,
                      acknowledged_at=raised + timedelta(seconds=30), acknowledged_by="ann (family)")
        session.add(alert)
        session.flush()
        session.add(AlertEvent(alert_id=alert.id, at=raised + timedelta(seconds=30), actor="ann (family)",
                               kind="acknowledged"))
        if staff_s is not None:
            session.add(AlertEvent(alert_id=alert.id, at=raised + timedelta(seconds=staff_s), actor="jo (operator)",
                                   kind="note", note="spoke to Arthur"))
    session.commit()
    page = slow_acknowledgements(registry, midnight(date(2026, 5, 1)), midnight(date(2026, 6, 1)))
    assert [(a.home_id, a.acknowledged_at, a.acknowledged_by, a.seconds) for a in page.items] == [
        ("H1", raised + timedelta(seconds=400), "jo (operator)", 400.0)]


def test_outcome_distribution(session):
    r = outcome_distribution(session, date(2026, 3, 1), date(2026, 4, 1))
    assert r.resolved == 7
    got = {o.outcome: (o.alerts, o.share) for o in r.rows()}
    assert got == {
        Outcome.FALSE_ALARM: (1, 0.1429), Outcome.RESOLVED_BY_PHONE: (1, 0.1429),
        Outcome.RESPONDER_ATTENDED: (1, 0.1429), Outcome.AMBULANCE_CALLED: (1, 0.1429),
        Outcome.HOSPITAL_ADMISSION: (1, 0.1429), Outcome.ADMISSION_AVOIDED: (0, 0.0),
        Outcome.CARE_PLAN_REVIEWED: (0, 0.0), Outcome.TECHNICAL_FIXED: (2, 0.2857)}
    broad = outcome_distribution(session, date(2026, 3, 1), date(2026, 4, 1), district="Broadland")
    assert {o.outcome: o.alerts for o in broad.outcomes if o.alerts} == {
        Outcome.RESOLVED_BY_PHONE: 1, Outcome.AMBULANCE_CALLED: 1, Outcome.TECHNICAL_FIXED: 1}
    empty = outcome_distribution(session, date(2026, 6, 1), date(2026, 7, 1))
    assert (empty.resolved, {o.share for o in empty.outcomes}, {o.alerts for o in empty.outcomes}) == (0, {None}, {0})


def test_still_at_home(session):
    r = still_at_home(session, date(2026, 6, 30))
    # 91 days: everyone in homes installed by 31 March but the one who left on day 91 (H2);
    # the one who left with service_ended is still at home.
    assert (r.after_91_days.people, r.after_91_days.still_at_home, r.after_91_days.share) == (6, 5, 0.8333)
    # 365 days: only H4 (June 2025); one of its two residents died in December.
    assert (r.after_365_days.people, r.after_365_days.still_at_home, r.after_365_days.share) == (2, 1, 0.5)
    broad = still_at_home(session, date(2026, 6, 30), district="Broadland")
    assert [(p.days, p.people, p.still_at_home) for p in broad.rows()] == [(91, 2, 2), (365, 2, 1)]
    # H5 (installed 10 March) counts from 91 days after its installation day.
    day_91 = date(2026, 3, 10) + timedelta(days=91)
    assert still_at_home(session, day_91, district="Breckland").after_91_days.people == 1
    assert still_at_home(session, day_91 - timedelta(days=1), district="Breckland").after_91_days.people == 0
    none = still_at_home(session, date(2025, 1, 1))
    assert (none.after_91_days.people, none.after_91_days.share, none.after_365_days.share) == (0, None, None)


def test_device_fault_rates(session):
    got = [(d.device_type, d.devices, d.faults, d.faults_per_100_devices)
           for d in device_fault_rates(session, date(2026, 3, 1), date(2026, 4, 1))]
    # H1's motion sensor went at midnight starting March, so it was not there in March.
    assert got == [("fall_detector", 1, 0, 0.0), ("gateway", 2, 1, 50.0), ("motion", 1, 1, 100.0),
                   ("pendant", 5, 1, 20.0)]
    april = [(d.device_type, d.devices, d.faults, d.faults_per_100_devices)
             for d in device_fault_rates(session, date(2026, 4, 1), date(2026, 5, 1))]
    assert april == [("fall_detector", 1, 0, 0.0), ("gateway", 2, 0, 0.0), ("pendant", 3, 0, 0.0),
                     ("unknown", 0, 1, None)]  # an alert from a device not in the registry
    breck = device_fault_rates(session, date(2026, 3, 1), date(2026, 4, 1), district="Breckland")
    assert [(d.device_type, d.devices, d.faults) for d in breck] == [("fall_detector", 1, 0)]
    assert device_fault_rates(session, date(2020, 1, 1), date(2020, 1, 1)) == []


def test_to_csv_round_trips_through_dictreader(session):
    rows = reach_by_month(session, date(2026, 1, 1), date(2026, 3, 1))
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert parsed == [
        {"month": "2026-01", "homes_active_at_end": "4", "new_homes": "3", "ended_homes": "0", "net_growth": "3"},
        {"month": "2026-02", "homes_active_at_end": "4", "new_homes": "1", "ended_homes": "1", "net_growth": "0"}]
    [ack] = csv.DictReader(io.StringIO(to_csv(time_to_acknowledge(session, date(2026, 3, 1)).rows())))
    assert list(ack) == list(AckTimes.model_fields)
    assert (ack["start"], ack["end"], ack["acknowledged"], ack["over_180s"], ack["median_seconds"]) == (
        "2026-03-01", "", "8", "2", "105.0")
    reach = list(csv.DictReader(io.StringIO(to_csv(reach_per_thousand(session, date(2026, 3, 31))))))
    assert reach[0] == {"day": "2026-03-31", "district": "Breckland", "homes_active": "1", "aged_65_plus": "",
                        "homes_per_1000_aged_65_plus": ""}
    outcomes = list(csv.DictReader(io.StringIO(to_csv(outcome_distribution(session).rows()))))
    assert outcomes[0] == {"outcome": "false_alarm", "alerts": "2", "share": "0.2"}


def test_to_csv_edges():
    assert to_csv([]) == ""
    assert to_csv([], model=MonthReach) == "month,homes_active_at_end,new_homes,ended_homes,net_growth\r\n"
    risky = DistrictReach(day=date(2026, 1, 1), district='=HYPERLINK("x"),1', homes_active=1, aged_65_plus=None,
                          homes_per_1000_aged_65_plus=None)
    [row] = csv.DictReader(io.StringIO(to_csv([risky])))
    assert row["district"] == "'=HYPERLINK(\"x\"),1"
    with pytest.raises(ReportInputError, match="not flat"):
        to_csv([OutcomeDistribution(start=None, end=None, district=None, resolved=0, outcomes=[])])
    with pytest.raises(ReportInputError, match="cannot mix"):
        to_csv([risky, MonthReach(month="2026-01", homes_active_at_end=0, new_homes=0, ended_homes=0, net_growth=0)])


def test_no_report_contains_a_name_or_address(session):
    day, start, end = date(2026, 3, 31), date(2025, 1, 1), date(2026, 12, 1)
    reports = [reach_on(session, day), reach_by_month(session, start, end), reach_per_thousand(session, day),
               alerts_per_100_homes(session, start, end), time_to_acknowledge(session, start, end),
               outcome_distribution(session, start, end), still_at_home(session, day),
               device_fault_rates(session, start, end)]
    texts = []
    for report in reports:
        if isinstance(report, list):
            texts += [r.model_dump_json() for r in report] + [to_csv(report)]
        else:
            texts += [report.model_dump_json(), to_csv(report.rows())]
    text = "\n".join(texts)
    assert "Breckland" in text and "pendant" in text  # the check reads real output
    # Not even a home's opaque id: which alerts, at which homes, is the monitoring centre's to know.
    for secret in [*NAMES, *(n.split()[1] for n in NAMES), ADDRESS, *(home for home, *_ in HOMES)]:
        assert secret not in text


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1899, 12, 31), date(3000, 1, 1), date(9999, 12, 31)])
def test_days_outside_the_calendar_reports_cover_are_input_errors(session, day):
    for report in (reach_on, reach_per_thousand, still_at_home):
        with pytest.raises(ReportInputError, match="outside the days reports cover"):
            report(session, day)
    for ranged in (alerts_per_100_homes, reach_by_month, time_to_acknowledge, outcome_distribution, device_fault_rates):
        with pytest.raises(ReportInputError, match="outside the days reports cover"):
            ranged(session, day, None)


# --- Small-number suppression --------------------------------------------------------------------

def _counts(**values: int) -> Table:
    t = Table()
    for key, n in values.items():
        t.count(key, n)
    return t


def test_counts_under_the_threshold_are_withheld_and_zero_is_not():
    t = _counts(none=0, one=1, four=4, five=5, twelve=12)
    assert withheld(t, 5) == {"one", "four"}
    assert withheld(t, 2) == {"one"}
    assert withheld(t, 13) == {"one", "four", "five", "twelve"}
    assert mark(5) == "<5" and mark(10) == "<10"


def test_a_count_from_fewer_homes_than_the_threshold_is_withheld_however_large():
    t = Table()
    t.count("one_home", 40, homes=1)
    t.count("five_homes", 40, homes=5)
    t.count("no_alerts", 0, homes=0)
    assert withheld(t, 5) == {"one_home"}


def test_figures_worked_out_from_a_withheld_count_are_withheld():
    t = _counts(part=3, whole=10, other=7)
    t.derive("share", "part", "whole")
    t.derive("percent", "share")  # built on a derived figure
    t.derive("other_share", "other", "whole")
    assert withheld(t, 5) == {"part", "share", "percent"}


def test_no_withheld_cell_is_left_to_be_had_from_its_total():
    t = _counts(a=2, b=10)
    t.count("total", 12, last=True)
    t.total("total", ["a", "b"])
    assert withheld(t, 5) == {"a", "b"}  # 12 - 10 would give the 2
    t = _counts(a=2, b=8, c=10, d=0)
    t.count("total", 20, last=True)
    t.total("total", ["a", "b", "c", "d"])
    assert withheld(t, 5) == {"a", "b"}  # the smallest beside it; never the zero, never the total


def test_a_table_with_row_and_column_totals_keeps_every_withheld_cell_undetermined():
    """   2   8 | 10
          7   9 | 16
          9  17 | 26   Withholding the 2 and the 8 (its row) leaves it: 9 - 7 in its column.
    The four inner cells go, the totals stay (each row and column then has two unknowns)."""
    t = _counts(a=2, b=8, c=7, d=9)
    for key, n in {"row0": 10, "row1": 16, "col0": 9, "col1": 17, "all": 26}.items():
        t.count(key, n, last=True)
    for total, parts in {"row0": "ab", "row1": "cd", "col0": "ac", "col1": "bd", "all": ["row0", "row1"]}.items():
        t.total(total, list(parts))
    t.total("all", ["col0", "col1"])
    assert withheld(t, 5) == {"a", "b", "c", "d"}


def test_a_count_implied_but_never_shown_is_protected_too():
    """8 people, 7 still at home: the 1 who left is never shown, but 8 - 7 gives it."""
    t = Table()
    t.count("people", 8, last=True)
    t.count("stayed", 7)
    t.hide("left", 1)
    t.total("people", ["stayed", "left"])
    t.derive("share", "stayed", "people")
    assert withheld(t, 5) == {"stayed", "share"}
    t.hidden["left"] = 0  # nobody left: nothing to protect
    assert withheld(t, 5) == frozenset()


def test_a_total_that_only_ones_can_add_up_to_is_withheld():
    """Five homes in five districts: each district is withheld, and then 5 over five withheld
    (so non-zero) districts would say each has one home."""
    t = Table()
    t.count("total", 5, last=True)
    for d in "vwxyz":
        t.count(d, 1)
    t.total("total", list("vwxyz"))
    assert withheld(t, 5) == {"total", *"vwxyz"}
    t.cells["z"] = 2  # 6 over five: not one value each
    t.cells["total"] = 6
    assert withheld(t, 5) == {*"vwxyz"}


def test_a_total_worked_out_from_other_sums_cannot_pin_its_parts():
    """Two priorities with 1 slow alert each: 2 slow in all would say each had one, so it is
    withheld; but all answered (6) less all within target (4) gives it again, so one more goes."""
    t = Table()
    t.count("answered", 6, last=True)
    t.count("within", 4)
    t.count("slow", 2)
    t.relation({"answered": 1, "within": -1, "slow": -1})
    for p in ("p1", "p3"):
        t.count(("slow", p), 1)
    t.total("slow", [("slow", "p1"), ("slow", "p3")])
    out = withheld(t, 2)
    assert {"slow", ("slow", "p1"), ("slow", "p3")} <= out
    assert {"within", "answered"} & out  # without one of them, 6 - 4 = 2 = 1 + 1


def test_a_series_of_months_hides_a_small_change_in_homes():
    """Homes at month ends 10, 12, 12: the 2 new homes in February would be 12 - 10."""
    t = Table()
    for i, (active, new, ended) in enumerate([(10, 10, 0), (12, 2, 0), (12, 0, 0)]):
        t.count(("active", i), active, last=True)
        t.count(("new", i), new)
        t.count(("ended", i), ended)
        t.derive(("net", i), ("new", i), ("ended", i), value=new - ended)
        t.relation({("net", i): 1, ("new", i): -1, ("ended", i): 1})
        t.relation({("active", i): 1, ("new", i): -1, ("ended", i): 1} | ({("active", i - 1): -1} if i else {}))
    out = withheld(t, 5)
    assert ("new", 1) in out and ("net", 1) in out
    assert {("new", 0), ("active", 0)} <= out  # January's 10 and 10, or February's 2 = 12 - 10 - 0
    assert not {("new", 2), ("ended", 2), ("net", 2), ("active", 2)} & out  # nothing else


def test_the_threshold_is_a_setting_of_at_least_two():
    assert ApiSettings().small_number_threshold == 5
    assert ApiSettings(small_number_threshold=10).small_number_threshold == 10
    with pytest.raises(ValueError):
        ApiSettings(small_number_threshold=1)
