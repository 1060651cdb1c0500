"""The commissioners' reports as they are published, to the API (JSON and CSV) and the reports page
alike: each report's figures through small-number suppression (api/disclosure.py).

How each answer's figures are tied together, for secondary suppression:

- reach on a day: the total is the sum of the districts. By device type and by need have no sum
  (a home counts under each of its types and needs). A district asked for on its own is withheld
  wherever it is withheld among all the districts, so asking for it alone does not show it.
- per 1,000 people aged 65+: each district's homes are withheld as in reach on that day.
- by month: net growth is new less ended, and the homes at a month's end are those at the end of
  the month before, plus new, less ended (the month before the first is taken as known).
- alert rates: no sums; homes at a month's end are withheld as in reach by month.
- time to answer (acknowledgement), to attend, and alarm to outcome: api/publishedtimes.py.
- outcomes: resolved is the sum of the outcomes.
- still at home: people are those still at home plus those who left, implied without being shown.
- device faults: no sums.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tecwatch.api import outcomes, publishedtimes, reach
from tecwatch.api.disclosure import Table, mark, withheld
from tecwatch.api.outcomes import AckTimes, AlertRate, DeviceFaults, OutcomeDistribution, StillAtHome
from tecwatch.api.reach import DistrictReach, MonthReach, ReachOnDay

TOTAL = ("total",)
_PARTS = ("district", "device_type", "primary_need")


def _shown(out: frozenset, threshold: int) -> Callable[[Hashable, Any], Any]:
    return lambda key, value: mark(threshold) if key in out else value


def _districts_withheld(session: Session, day: date, threshold: int) -> set[str]:
    """The districts whose homes reach on `day` withholds when it shows every district."""
    counts = dict(sorted(reach.district_homes(session, day).items()))
    t = Table()
    t.count(TOTAL, sum(counts.values()), last=True)
    for name, n in counts.items():
        t.count(("district", name), n)
    t.total(TOTAL, [("district", name) for name in counts])
    return {key[1] for key in withheld(t, threshold) if key != TOTAL}


def reach_on(session: Session, day: date, district: str | None, threshold: int) -> ReachOnDay:
    r = reach.reach_on(session, day, district)
    parts = dict(zip(_PARTS, (r.by_district, r.by_device_type, r.by_primary_need)))
    t = Table()
    t.count(TOTAL, r.homes, last=True)
    for part, counts in parts.items():
        for key, n in counts.items():
            t.count((part, key), n)
    t.total(TOTAL, [("district", name) for name in r.by_district])
    if district is not None and district in _districts_withheld(session, day, threshold):
        t.forced |= {TOTAL, ("district", district)}
    show = _shown(withheld(t, threshold), threshold)
    return r.model_copy(update={"homes": show(TOTAL, r.homes)} | {
        f"by_{part}": {key: show((part, key), n) for key, n in counts.items()} for part, counts in parts.items()})


def reach_per_thousand(session: Session, day: date, district: str | None, threshold: int) -> list[DistrictReach]:
    rows = reach.reach_per_thousand(session, day, district)
    t = Table()
    for r in rows:
        t.count(("homes", r.district), r.homes_active)
        t.derive(("rate", r.district), ("homes", r.district))
    t.forced = {("homes", name) for name in _districts_withheld(session, day, threshold)}
    show = _shown(withheld(t, threshold), threshold)
    return [r.model_copy(update={"homes_active": show(("homes", r.district), r.homes_active),
                                 "homes_per_1000_aged_65_plus": show(("rate", r.district),
                                                                     r.homes_per_1000_aged_65_plus)})
            for r in rows]


def _monthly(rows: list[MonthReach]) -> Table:
    t = Table()
    for i, m in enumerate(rows):
        t.count(("active", i), m.homes_active_at_end, last=True)
        t.count(("new", i), m.new_homes)
        t.count(("ended", i), m.ended_homes)
        t.derive(("net", i), ("new", i), ("ended", i), value=m.net_growth)
        t.relation({("net", i): 1, ("new", i): -1, ("ended", i): 1})
        t.relation({("active", i): 1, ("new", i): -1, ("ended", i): 1} | ({("active", i - 1): -1} if i else {}))
    return t


def reach_by_month(session: Session, start: date | None, end: date | None, district: str | None,
                   threshold: int) -> list[MonthReach]:
    rows = reach.reach_by_month(session, start, end, district)
    show = _shown(withheld(_monthly(rows), threshold), threshold)
    return [MonthReach(month=m.month, homes_active_at_end=show(("active", i), m.homes_active_at_end),
                       new_homes=show(("new", i), m.new_homes), ended_homes=show(("ended", i), m.ended_homes),
                       net_growth=show(("net", i), m.net_growth)) for i, m in enumerate(rows)]


def alert_rates(session: Session, start: date | None, end: date | None, district: str | None,
                threshold: int) -> list[AlertRate]:
    rows, homes = outcomes.alert_rates_counted(session, start, end, district)
    months = reach.reach_by_month(session, start, end, district)
    t = Table()
    for r in rows:
        t.count(("alerts", r.month, r.rule), r.alerts, homes=homes.get((r.month, r.rule), 0))
        t.count(("homes", r.month), r.homes_active_at_end)
        t.derive(("rate", r.month, r.rule), ("alerts", r.month, r.rule), ("homes", r.month))
    t.forced = {("homes", months[key[1]].month) for key in withheld(_monthly(months), threshold) if key[0] == "active"}
    show = _shown(withheld(t, threshold), threshold)
    return [AlertRate(month=r.month, rule=r.rule, alerts=show(("alerts", r.month, r.rule), r.alerts),
                      homes_active_at_end=show(("homes", r.month), r.homes_active_at_end),
                      alerts_per_100_homes=show(("rate", r.month, r.rule), r.alerts_per_100_homes)) for r in rows]


def time_to_acknowledge(session: Session, start: date | None, end: date | None, district: str | None,
                        threshold: int, priority: int | None = None) -> AckTimes:
    """The whole range's row of time to answer, withheld as in that report (api/publishedtimes.py)."""
    return publishedtimes.time_to_answer(session, start, end, district, priority, threshold).total


def outcome_distribution(session: Session, start: date | None, end: date | None, district: str | None,
                         threshold: int) -> OutcomeDistribution:
    r, homes = outcomes.outcomes_counted(session, start, end, district)
    t = Table()
    t.count(TOTAL, r.resolved, homes=homes.get("resolved", 0), last=True)
    for o in r.outcomes:
        t.count(("alerts", o.outcome), o.alerts, homes=homes.get(o.outcome, 0))
        t.derive(("share", o.outcome), ("alerts", o.outcome), TOTAL)
    t.total(TOTAL, [("alerts", o.outcome) for o in r.outcomes])
    show = _shown(withheld(t, threshold), threshold)
    return r.model_copy(update={"resolved": show(TOTAL, r.resolved), "outcomes": [
        o.model_copy(update={"alerts": show(("alerts", o.outcome), o.alerts), "share": show(("share", o.outcome), o.share)})
        for o in r.outcomes]})


def still_at_home(session: Session, day: date, district: str | None, threshold: int) -> StillAtHome:
    r = outcomes.still_at_home(session, day, district)
    t = Table()
    for p in r.rows():
        people, stayed, left = ("people", p.days), ("stayed", p.days), ("left", p.days)
        t.count(people, p.people, last=True)
        t.count(stayed, p.still_at_home)
        t.hide(left, p.people - p.still_at_home)
        t.total(people, [stayed, left])
        t.derive(("share", p.days), stayed, people)
    show = _shown(withheld(t, threshold), threshold)
    after = {f"after_{p.days}_days": p.model_copy(update={
        "people": show(("people", p.days), p.people), "still_at_home": show(("stayed", p.days), p.still_at_home),
        "share": show(("share", p.days), p.share)}) for p in r.rows()}
    return r.model_copy(update=after)


def device_fault_rates(session: Session, start: date | None, end: date | None, district: str | None,
                       threshold: int) -> list[DeviceFaults]:
    rows, homes = outcomes.faults_counted(session, start, end, district)
    t = Table()
    for r in rows:
        devices, faults = ("devices", r.device_type), ("faults", r.device_type)
        t.count(devices, r.devices, homes=homes.get(devices, 0))
        t.count(faults, r.faults, homes=homes.get(faults, 0))
        t.derive(("rate", r.device_type), devices, faults)
    show = _shown(withheld(t, threshold), threshold)
    return [DeviceFaults(device_type=r.device_type, devices=show(("devices", r.device_type), r.devices),
                         faults=show(("faults", r.device_type), r.faults),
                         faults_per_100_devices=show(("rate", r.device_type), r.faults_per_100_devices))
            for r in rows]
