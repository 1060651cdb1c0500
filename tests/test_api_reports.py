"""The commissioner report endpoints over a real HTTP server, on SQLite and the real PostgreSQL.

The registry holds seed_cast's two homes (home-1 in Norwich, home-2 in Breckland, one motion sensor
each since 5 January 2026, Arthur and Beryl at home, no alerts) and test_reporting's hand-checked
homes H1-H7, so each figure below is test_reporting's plus the cast's, as published: a count
under 5 (or of alerts or devices from fewer than 5 homes), and what is worked out from one or
would give one away, is "<5". A second server over the same registry has its threshold at 2."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.models import DistrictPopulation
from tecwatch.settings import ApiSettings

from apisupport import api_server, seed_cast, signed_in
from test_reporting import ADDRESS, NAMES, seed

CSV_TYPE = "text/csv; charset=utf-8"


@pytest.fixture
def base_url(registry, registry_url, tmp_path) -> Iterator[str]:
    seed_cast(registry)
    with Session(registry) as s, s.begin():
        seed(s)
    with api_server(registry_url, tmp_path) as (url, _):
        yield url


@pytest.fixture
def commissioner(base_url) -> Iterator[httpx.Client]:
    with signed_in(base_url, "commissioner") as client:
        yield client


@pytest.fixture
def lenient(base_url, registry_url, tmp_path) -> Iterator[httpx.Client]:
    """A commissioner on a second server over the same registry, its threshold set to 2: only a
    count of one, or of alerts or devices from one home, is withheld (as "<2")."""
    with api_server(registry_url, tmp_path / "lenient", api=ApiSettings(small_number_threshold=2)) as (url, _), \
            signed_in(url, "commissioner") as client:
        yield client


def ok(client: httpx.Client, path: str, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


def csv_rows(client: httpx.Client, path: str, filename: str | None = None, report: str | None = None,
             **params) -> tuple[list[str], list[dict]]:
    """The header and rows of a report as CSV; checks the download headers (filename: the date is the day asked
    for, or today for a range)."""
    today = datetime.now(UTC).date()
    r = client.get(path, params={**params, "format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CSV_TYPE
    report = report or path.removeprefix("/api/reports/").replace("/", "-")
    names = {filename} if filename else {f"{report}-{d.isoformat()}.csv" for d in (today, datetime.now(UTC).date())}
    assert r.headers["content-disposition"] in {f'attachment; filename="{n}"' for n in names}
    reader = csv.DictReader(io.StringIO(r.text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_reach_on_a_day(commissioner, lenient):
    r = ok(commissioner, "/api/reports/reach", day="2026-03-31")
    # Seven homes; every district, device type and need has fewer than five (the total less two of
    # them would still leave one of three unknown).
    assert r == {"day": "2026-03-31", "district": None, "homes": 7,
                 "by_district": {"Breckland": "<5", "Broadland": "<5", "Norwich": "<5"},
                 "by_device_type": {"fall_detector": "<5", "motion": "<5", "pendant": "<5"},
                 "by_primary_need": {"dementia": "<5", "frailty": "<5", "physical_disability": "<5", "unknown": "<5"}}
    norwich = ok(commissioner, "/api/reports/reach", day="2026-03-31", district="Norwich")
    assert (norwich["district"], norwich["homes"], norwich["by_district"], norwich["by_device_type"],
            norwich["by_primary_need"]) == ("Norwich", "<5", {"Norwich": "<5"}, {"motion": "<5", "pendant": "<5"},
                                            {"dementia": "<5"})
    # A blank district (an empty form field) is every district.
    assert ok(commissioner, "/api/reports/reach", day="2026-03-31", district="")["homes"] == 7
    # No day: today (UTC). Every home but H2 and H3 still has a device.
    before = datetime.now(UTC).date().isoformat()
    today = ok(commissioner, "/api/reports/reach")
    assert today["day"] in {before, datetime.now(UTC).date().isoformat()} and today["homes"] == 7

    header, rows = csv_rows(commissioner, "/api/reports/reach", "reach-2026-03-31.csv", day="2026-03-31")
    assert header == ["day", "breakdown", "key", "homes"]
    assert [(row["breakdown"], row["key"], row["homes"]) for row in rows] == [
        ("total", "all", "7"), ("district", "Breckland", "<5"), ("district", "Broadland", "<5"),
        ("district", "Norwich", "<5"), ("device_type", "fall_detector", "<5"), ("device_type", "motion", "<5"),
        ("device_type", "pendant", "<5"), ("primary_need", "dementia", "<5"), ("primary_need", "frailty", "<5"),
        ("primary_need", "physical_disability", "<5"), ("primary_need", "unknown", "<5")]
    assert {row["day"] for row in rows} == {"2026-03-31"}

    # With the threshold at 2, only the ones are withheld, as "<2".
    assert ok(lenient, "/api/reports/reach", day="2026-03-31") == {
        "day": "2026-03-31", "district": None, "homes": 7, "by_district": {"Breckland": 2, "Broadland": 2, "Norwich": 3},
        "by_device_type": {"fall_detector": "<2", "motion": 3, "pendant": 4},
        "by_primary_need": {"dementia": 3, "frailty": "<2", "physical_disability": "<2", "unknown": 2}}


def test_reach_by_month(commissioner):
    months = ok(commissioner, "/api/reports/reach/monthly", start="2026-01-01", end="2026-05-01")
    # Homes at month ends 6, 6, 7, 6: April's one ended home would be 7 - 6 with nothing new, so
    # April's 6 is withheld beside it; February's and March's new and ended have two unknowns each.
    assert [(m["month"], m["homes_active_at_end"], m["new_homes"], m["ended_homes"], m["net_growth"])
            for m in months] == [("2026-01", 6, 5, 0, 5), ("2026-02", 6, "<5", "<5", "<5"),
                                 ("2026-03", 7, "<5", "<5", "<5"), ("2026-04", "<5", 0, "<5", "<5")]
    header, rows = csv_rows(commissioner, "/api/reports/reach/monthly", start="2026-01-01", end="2026-05-01",
                            district="Norwich")
    assert header == ["month", "homes_active_at_end", "new_homes", "ended_homes", "net_growth"]
    # Three homes in Norwich: a net growth worked out from a withheld count is withheld (April's 0
    # from 0 new and 0 ended is not).
    assert rows == [
        {"month": "2026-01", "homes_active_at_end": "<5", "new_homes": "<5", "ended_homes": "0", "net_growth": "<5"},
        {"month": "2026-02", "homes_active_at_end": "<5", "new_homes": "<5", "ended_homes": "<5", "net_growth": "<5"},
        {"month": "2026-03", "homes_active_at_end": "<5", "new_homes": "<5", "ended_homes": "<5", "net_growth": "<5"},
        {"month": "2026-04", "homes_active_at_end": "<5", "new_homes": "0", "ended_homes": "0", "net_growth": "0"}]
    # An empty range: no months, and a CSV with only its header.
    assert ok(commissioner, "/api/reports/reach/monthly", start="2026-03-01", end="2026-03-01") == []
    header, rows = csv_rows(commissioner, "/api/reports/reach/monthly", start="2026-03-01", end="2026-03-01")
    assert (header, rows) == (["month", "homes_active_at_end", "new_homes", "ended_homes", "net_growth"], [])


def per_1000(client: httpx.Client, **params) -> list[tuple]:
    return [(d["district"], d["homes_active"], d["aged_65_plus"], d["homes_per_1000_aged_65_plus"])
            for d in ok(client, "/api/reports/reach/per-1000", day="2026-03-31", **params)]


def test_reach_per_1000_and_population_uploads(base_url, commissioner, lenient, registry):
    # Each district's homes are withheld as in reach on that day, and the rate with them.
    assert per_1000(commissioner) == [("Breckland", "<5", None, "<5"), ("Broadland", "<5", 40000, "<5"),
                                      ("Great Yarmouth", 0, 25000, 0.0), ("Norwich", "<5", 19000, "<5")]
    assert per_1000(lenient) == [("Breckland", 2, None, None), ("Broadland", 2, 40000, 0.05),
                                 ("Great Yarmouth", 0, 25000, 0.0), ("Norwich", 3, 19000, 0.16)]
    header, rows = csv_rows(commissioner, "/api/reports/reach/per-1000", "reach-per-1000-2026-03-31.csv",
                            day="2026-03-31", district="Breckland")
    assert header == ["day", "district", "homes_active", "aged_65_plus", "homes_per_1000_aged_65_plus"]
    assert rows == [{"day": "2026-03-31", "district": "Breckland", "homes_active": "<5", "aged_65_plus": "",
                     "homes_per_1000_aged_65_plus": "<5"}]

    good = commissioner.put("/api/reports/population", params={"source": "ONS 2025"},
                            content="district,aged_65_plus\r\nNorwich,20000\r\nBreckland,10000\r\n",
                            headers={"Content-Type": "text/csv"})
    assert good.status_code == 200, good.text
    assert good.json() == {"districts": 2, "source": "ONS 2025"}
    loaded = [("Breckland", 2, 10000, 0.2), ("Broadland", 2, 40000, 0.05), ("Great Yarmouth", 0, 25000, 0.0),
              ("Norwich", 3, 20000, 0.15)]
    assert per_1000(lenient) == loaded
    assert per_1000(commissioner) == [(d, 0 if n == 0 else "<5", pop, rate if n == 0 else "<5")
                                      for d, n, pop, rate in loaded]

    bad = commissioner.put("/api/reports/population", params={"source": "bad"},
                           content="district,aged_65_plus\nNorwich,1\nBroadland,lots\n",
                           headers={"Content-Type": "text/csv; charset=utf-8"})
    assert bad.status_code == 422
    assert bad.json() == {"detail": "line 3: aged_65_plus must be a whole number, got 'lots'"}
    repeated = commissioner.put("/api/reports/population", content="district,aged_65_plus\nNorwich,1\nNorwich,2\n",
                                headers={"Content-Type": "text/csv"})
    assert repeated.status_code == 422 and "line 3" in repeated.json()["detail"]
    assert per_1000(lenient) == loaded, "a bad file changes nothing"
    # A multipart upload (the `file` field), as a browser form sends it; an admin may upload too.
    with signed_in(base_url, "admin") as admin:
        form = admin.put("/api/reports/population", params={"source": "council form"},
                         files={"file": ("pop.csv", "\ufeffdistrict,aged_65_plus\nNorth Norfolk,31000\n".encode(),
                                         "text/csv")})
        assert form.status_code == 200, form.text
        assert form.json() == {"districts": 1, "source": "council form"}
        no_file = admin.put("/api/reports/population", files={"other": ("pop.csv", b"district,aged_65_plus\n")})
        assert no_file.status_code == 422 and "'file'" in no_file.json()["detail"]
    with Session(registry) as s:
        stored = {p.district: (p.aged_65_plus, p.source) for p in s.scalars(select(DistrictPopulation))}
    assert stored == {"Norwich": (20000, "ONS 2025"), "Breckland": (10000, "ONS 2025"),
                      "Broadland": (40000, "ONS 2024"), "Great Yarmouth": (25000, "ONS 2024"),
                      "North Norfolk": (31000, "council form")}

    def put(body: bytes, content_type: str) -> httpx.Response:
        return commissioner.put("/api/reports/population", content=body, headers={"Content-Type": content_type})

    assert put(b'{"Norwich": 1}', "application/json").status_code == 415
    latin = put("district,aged_65_plus\nYarmouth Caf\u00e9,1\n".encode("latin-1"), "text/csv")
    assert latin.status_code == 422 and "UTF-8" in latin.json()["detail"]
    assert put("district,aged_65_plus\nCaf\u00e9,7\n".encode("latin-1"), "text/csv; charset=latin-1").status_code == 200
    huge = put(b"district,aged_65_plus\n" + b"x,1\n" * 300_000, "text/csv")
    assert huge.status_code == 413
    long_source = commissioner.put("/api/reports/population", params={"source": "s" * 201},
                                   content="district,aged_65_plus\nNorwich,1\n", headers={"Content-Type": "text/csv"})
    assert long_source.status_code == 422
    with Session(registry) as s:
        assert s.get(DistrictPopulation, "Norwich").aged_65_plus == 20000
        assert s.get(DistrictPopulation, "Café").aged_65_plus == 7


def test_alert_rates(commissioner, lenient):
    rows = ok(commissioner, "/api/reports/alert-rates", start="2026-02-01", end="2026-05-01")
    got = {(r["month"], r["rule"]): (r["alerts"], r["homes_active_at_end"], r["alerts_per_100_homes"]) for r in rows}
    assert len(rows) == 15  # 3 months x 5 rules seen in the range
    assert got[("2026-02", "pendant")] == ("<5", 6, "<5")
    assert got[("2026-02", "fall_detected")] == (0, 6, 0.0)
    # March's 5 pendant alerts came from 4 homes; April's homes are withheld as in reach by month.
    assert {rule: v for (month, rule), v in got.items() if month == "2026-03"} == {
        "pendant": ("<5", 7, "<5"), "fall_detected": ("<5", 7, "<5"), "device_silent": ("<5", 7, "<5"),
        "hub_offline": ("<5", 7, "<5"), "low_battery": ("<5", 7, "<5")}
    assert got[("2026-04", "device_silent")] == ("<5", "<5", "<5")
    assert got[("2026-04", "fall_detected")] == (0, "<5", "<5")
    header, broadland = csv_rows(commissioner, "/api/reports/alert-rates", start="2026-03-01", end="2026-04-01",
                                 district="Broadland")
    assert header == ["month", "rule", "alerts", "homes_active_at_end", "alerts_per_100_homes"]
    assert [tuple(r.values()) for r in broadland] == [
        ("2026-03", "hub_offline", "<5", "<5", "<5"), ("2026-03", "low_battery", "<5", "<5", "<5"),
        ("2026-03", "pendant", "<5", "<5", "<5")]
    # Threshold 2: 5 alerts from 4 homes are shown.
    march = {r["rule"]: (r["alerts"], r["homes_active_at_end"], r["alerts_per_100_homes"])
             for r in ok(lenient, "/api/reports/alert-rates", start="2026-03-01", end="2026-04-01")}
    assert march == {"pendant": (5, 7, 71.43), "fall_detected": ("<2", 7, "<2"), "device_silent": ("<2", 7, "<2"),
                     "hub_offline": ("<2", 7, "<2"), "low_battery": ("<2", 7, "<2")}


ALL_WITHHELD = {"alerts": "<5", "acknowledged": "<5", "within_60s": "<5", "within_180s": "<5", "over_180s": "<5",
                "share_within_60s": "<5", "share_within_180s": "<5", "median_seconds": "<5", "p90_seconds": "<5",
                "never_acknowledged": "<5", "acknowledged_by_family_only": 0, "awaiting_acknowledgement": "<5"}
WHOLE_RANGE = {"priority": None, "month": None}


def test_time_to_acknowledge(commissioner, lenient):
    # Six answered in March, from four homes, and two never answered: nothing to show but the 8
    # alerts (from five homes).
    r = ok(commissioner, "/api/reports/acknowledgement", start="2026-03-01", end="2026-04-01")
    assert r == {**WHOLE_RANGE, "start": "2026-03-01", "end": "2026-04-01", "district": None, **ALL_WITHHELD,
                 "alerts": 8}
    header, rows = csv_rows(commissioner, "/api/reports/acknowledgement", start="2026-03-01", end="2026-04-01",
                            district="Norwich")
    assert header == ["priority", "month", "start", "end", "district", *ALL_WITHHELD]
    assert rows == [{"priority": "", "month": "", "start": "2026-03-01", "end": "2026-04-01", "district": "Norwich",
                     **ALL_WITHHELD, "acknowledged_by_family_only": "0", "awaiting_acknowledgement": "0"}]
    # Every day: 9 answered and 2 never answered (from two homes, withheld), so the 9 is withheld
    # beside them (11 alerts less it would give the 2), and all that is worked out from it.
    assert ok(commissioner, "/api/reports/acknowledgement", part="summary") == {
        **WHOLE_RANGE, "start": None, "end": None, "district": None, **ALL_WITHHELD, "alerts": 11}
    # Threshold 2: within 60 s (2) came from one home (H1), the one awaiting is one. The answer's rows
    # by priority have one P1 and one P3 alert over 180 s and never answered each: 2 in all would say
    # that each priority had one, and the answered less those within 180 s would give it again.
    assert ok(lenient, "/api/reports/acknowledgement", start="2026-03-01", end="2026-04-01") == {
        **WHOLE_RANGE, "start": "2026-03-01", "end": "2026-04-01", "district": None,
        **{k: "<2" for k in ALL_WITHHELD}, "alerts": 8, "acknowledged_by_family_only": 0}


def test_outcomes(commissioner, lenient):
    r = ok(commissioner, "/api/reports/outcomes", start="2026-03-01", end="2026-04-01")
    # 7 resolved, but from four homes.
    assert (r["start"], r["end"], r["district"], r["resolved"]) == ("2026-03-01", "2026-04-01", None, "<5")
    assert {o["outcome"]: (o["alerts"], o["share"]) for o in r["outcomes"]} == {
        "false_alarm": ("<5", "<5"), "resolved_by_phone": ("<5", "<5"), "responder_attended": ("<5", "<5"),
        "ambulance_called": ("<5", "<5"), "hospital_admission": ("<5", "<5"), "admission_avoided": (0, "<5"),
        "care_plan_reviewed": (0, "<5"), "technical_fixed": ("<5", "<5")}
    header, rows = csv_rows(commissioner, "/api/reports/outcomes", start="2026-03-01", end="2026-04-01",
                            district="Broadland")
    assert header == ["outcome", "alerts", "share"]
    assert {row["outcome"]: (row["alerts"], row["share"]) for row in rows if row["alerts"] != "0"} == {
        "resolved_by_phone": ("<5", "<5"), "ambulance_called": ("<5", "<5"), "technical_fixed": ("<5", "<5")}
    assert len(rows) == 8
    # Nothing resolved in the range: every outcome, with no share.
    empty = ok(commissioner, "/api/reports/outcomes", start="2026-06-01", end="2026-07-01")
    assert empty["resolved"] == 0 and {o["share"] for o in empty["outcomes"]} == {None}
    # Threshold 2: 7 resolved from four homes; five outcomes of one alert each, withheld, would
    # leave the 2 technical fixes to be 7 - 5 (each withheld one is at least 1), so it goes too.
    r = ok(lenient, "/api/reports/outcomes", start="2026-03-01", end="2026-04-01")
    assert r["resolved"] == 7
    assert {o["outcome"]: (o["alerts"], o["share"]) for o in r["outcomes"]} == {
        "false_alarm": ("<2", "<2"), "resolved_by_phone": ("<2", "<2"), "responder_attended": ("<2", "<2"),
        "ambulance_called": ("<2", "<2"), "hospital_admission": ("<2", "<2"), "admission_avoided": (0, 0.0),
        "care_plan_reviewed": (0, 0.0), "technical_fixed": ("<2", "<2")}


def test_still_at_home(commissioner, lenient):
    r = ok(commissioner, "/api/reports/still-at-home", day="2026-06-30")
    # test_reporting's 6 people at 91 days (5 stayed), and Arthur and Beryl: 8, of whom 7 stayed;
    # the 7 is withheld, as 8 - 7 would give the one who left.
    assert r == {"day": "2026-06-30", "district": None,
                 "after_91_days": {"days": 91, "people": 8, "still_at_home": "<5", "share": "<5"},
                 "after_365_days": {"days": 365, "people": "<5", "still_at_home": "<5", "share": "<5"}}
    header, rows = csv_rows(commissioner, "/api/reports/still-at-home", "still-at-home-2026-06-30.csv",
                            day="2026-06-30", district="Breckland")
    assert header == ["days", "people", "still_at_home", "share"]
    assert rows == [{"days": "91", "people": "<5", "still_at_home": "<5", "share": "<5"},
                    {"days": "365", "people": "0", "still_at_home": "0", "share": ""}]
    assert ok(lenient, "/api/reports/still-at-home", day="2026-06-30") == {
        "day": "2026-06-30", "district": None,
        "after_91_days": {"days": 91, "people": 8, "still_at_home": "<2", "share": "<2"},
        "after_365_days": {"days": 365, "people": 2, "still_at_home": "<2", "share": "<2"}}


def test_device_faults(commissioner, lenient):
    rows = ok(commissioner, "/api/reports/device-faults", start="2026-03-01", end="2026-04-01")
    assert [(d["device_type"], d["devices"], d["faults"], d["faults_per_100_devices"]) for d in rows] == [
        ("fall_detector", "<5", 0, "<5"), ("gateway", "<5", "<5", "<5"), ("motion", "<5", "<5", "<5"),
        ("pendant", 5, "<5", "<5")]
    header, breck = csv_rows(commissioner, "/api/reports/device-faults", start="2026-03-01", end="2026-04-01",
                             district="Breckland")
    assert header == ["device_type", "devices", "faults", "faults_per_100_devices"]
    assert breck == [{"device_type": "fall_detector", "devices": "<5", "faults": "0", "faults_per_100_devices": "<5"},
                     {"device_type": "motion", "devices": "<5", "faults": "0", "faults_per_100_devices": "<5"}]
    rows = ok(lenient, "/api/reports/device-faults", start="2026-03-01", end="2026-04-01")
    assert [(d["device_type"], d["devices"], d["faults"], d["faults_per_100_devices"]) for d in rows] == [
        ("fall_detector", "<2", 0, "<2"), ("gateway", 2, "<2", "<2"), ("motion", 3, "<2", "<2"),
        ("pendant", 5, "<2", "<2")]


REPORTS = ["/api/reports/reach", "/api/reports/reach/monthly", "/api/reports/reach/per-1000",
           "/api/reports/alert-rates", "/api/reports/acknowledgement", "/api/reports/outcomes",
           "/api/reports/still-at-home", "/api/reports/device-faults", "/api/reports/time-to-answer",
           "/api/reports/time-to-attend", "/api/reports/alarm-to-outcome"]


def test_a_commissioner_never_sees_names_or_addresses(commissioner):
    texts = []
    for path in REPORTS:
        for fmt in ("json", "csv"):
            for params in ({}, {"day": "2026-03-31"}, {"start": "2025-01-01", "end": "2026-12-01"},
                           {"start": "2025-01-01", "end": "2026-12-01", "part": "summary"}):
                r = commissioner.get(path, params={**params, "format": fmt})
                if r.status_code == 200:
                    texts.append(r.text)
    assert len(texts) >= 2 * len(REPORTS) * 2
    text = "\n".join(texts)
    assert "Norwich" in text and '"homes":7' in text  # the check reads real figures
    homes = ["home-1", "home-2", *(f"H{i}" for i in range(1, 8))]
    for secret in ["Arthur", "Beryl", "Example", "Lane", "80-84", ADDRESS, *NAMES, *(n.split()[1] for n in NAMES),
                   *homes, "alert_id", "raised_at"]:
        assert secret not in text, secret


BAD_INPUT = [
    ("/api/reports/reach", {"day": "2026-02-30"}, "valid date"),
    ("/api/reports/reach", {"day": "yesterday"}, "valid date"),
    ("/api/reports/reach/per-1000", {"day": "31/03/2026"}, "valid date"),
    ("/api/reports/still-at-home", {"day": "2026-13-01"}, "valid date"),
    ("/api/reports/reach/monthly", {"start": "2026-04-01", "end": "2026-03-01"},
     "start 2026-04-01 is after end 2026-03-01"),
    ("/api/reports/alert-rates", {"start": "2026-04-01", "end": "2026-03-01"}, "start 2026-04-01 is after end"),
    ("/api/reports/acknowledgement", {"start": "2026-04-01", "end": "2026-03-01"}, "start 2026-04-01 is after end"),
    ("/api/reports/outcomes", {"start": "2026-04-01", "end": "2026-03-01"}, "start 2026-04-01 is after end"),
    ("/api/reports/device-faults", {"start": "2026-04-01", "end": "2026-03-01"}, "start 2026-04-01 is after end"),
    ("/api/reports/device-faults", {"start": "2026-04-01", "end": "2026-03-01", "format": "csv"}, "is after end"),
    ("/api/reports/outcomes", {"end": "2026-04-31"}, "valid date"),
    ("/api/reports/reach", {"format": "xlsx"}, "'json' or 'csv'"),
    ("/api/reports/device-faults", {"format": "CSV "}, "'json' or 'csv'"),
    ("/api/reports/acknowledgement", {"part": "over_3_minutes"}, "'summary'"),
    ("/api/reports/reach", {"district": "x" * 81}, "at most 80 characters"),
]


def test_bad_input_is_422(commissioner):
    failures = []
    for path, params, detail in BAD_INPUT:
        r = commissioner.get(path, params=params)
        if r.status_code != 422 or detail not in str(r.json()["detail"]) or "json" not in r.headers["content-type"]:
            failures.append(f"{path} {params}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


def test_only_commissioners_and_admins(base_url, registry):
    anonymous = httpx.Client(base_url=base_url, timeout=10)
    assert anonymous.get("/api/reports/reach").status_code == 401
    upload = {"content": "district,aged_65_plus\nNorwich,1\n", "headers": {"Content-Type": "text/csv"}}
    assert anonymous.put("/api/reports/population", **upload).status_code == 401
    for role in ("operator", "responder", "family-1"):
        with signed_in(base_url, role) as client:
            r = client.get("/api/reports/reach", params={"day": "2026-03-31"})
            assert r.status_code == 403 and "homes" not in r.text
            assert client.get("/api/reports/outcomes", params={"format": "csv"}).status_code == 403
            assert client.put("/api/reports/population", **upload).status_code == 403
    with signed_in(base_url, "admin") as admin:
        assert ok(admin, "/api/reports/reach", day="2026-03-31")["homes"] == 7
    with Session(registry) as s:
        assert s.get(DistrictPopulation, "Norwich").aged_65_plus == 19000, "a refused upload changes nothing"


def test_reports_in_the_openapi_schema(commissioner):
    paths = commissioner.get("/openapi.json").json()["paths"]
    reports = {p: ops for p, ops in paths.items() if p.startswith("/api/reports")}
    assert sorted(reports) == sorted([*REPORTS, "/api/reports/population"])
    for path in REPORTS:
        op = reports[path]["get"]
        assert op["tags"] == ["reports"]
        assert set(op["responses"]["200"]["content"]) == {"application/json", "text/csv"}
        assert "$ref" in str(op["responses"]["200"]["content"]["application/json"]["schema"])
        assert "format" in {p["name"] for p in op["parameters"]}
    put = reports["/api/reports/population"]["put"]
    assert set(put["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}
    assert put["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PopulationLoaded"}
    assert date.fromisoformat(ok(commissioner, "/api/reports/still-at-home")["day"])
