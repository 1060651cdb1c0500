"""The response-time reports: time to answer (the centre's acknowledgement, against the 60 s and
180 s targets), time to attend (a responder's arrival) and time from alarm to outcome, in total,
by priority and by month (by outcome for alarm to outcome). Raw figures; what commissioners see
goes through api/publishedtimes.py. Which events count is explained in api/responsetimes.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from pydantic import BaseModel

from tecwatch.api.disclosure import Count, Figure
from tecwatch.api.reporting import ratio
from tecwatch.api.responsetimes import PRIORITIES, AlertTimes, month_of, quantile
from tecwatch.registry.models import OPEN_STATES, Outcome

ACK_TARGETS_S = (60, 180)
P1_TARGET_S = ACK_TARGETS_S[0]  # the TSA target: P1 alarm calls answered within 60 seconds
BETWEEN_TARGETS = "60s_to_180s"
OTHER_MISSES = "never_answered_otherwise"


class _Group(BaseModel):
    priority: int | None = None  # None: every priority asked for
    month: str | None = None  # None: the whole range


class AckTimes(_Group):
    """Time to answer: raise to the first acknowledgement by the monitoring centre. The shares are
    of every alert the centre answered or never answered (a miss); alerts still open and not yet
    answered are counted apart. Which alerts were slow is the monitoring centre's to see (GET
    /api/alerts/slow-acknowledgements), not a commissioner's."""

    start: date | None = None
    end: date | None = None
    district: str | None = None
    alerts: Count = 0  # answered by the centre, or closed without its answer
    acknowledged: Count = 0  # answered by the centre
    within_60s: Count = 0
    within_180s: Count = 0
    over_180s: Count = 0
    share_within_60s: Figure = None  # of `alerts`: a never-answered alert is a miss
    share_within_180s: Figure = None
    median_seconds: Figure = None  # of the answered alerts
    p90_seconds: Figure = None
    never_acknowledged: Count = 0  # closed without the centre answering: misses
    acknowledged_by_family_only: Count = 0  # of those, acknowledged only by a family member or link
    awaiting_acknowledgement: Count = 0  # still open, not yet answered by the centre; not in the shares

    def rows(self) -> list[AckTimes]:
        return [self]


class AttendTimes(_Group):
    """Raise to a responder's arrival (the first "arrived" in the trail)."""

    attended: Count = 0
    median_minutes: Figure = None
    p90_minutes: Figure = None


class OutcomeTimes(BaseModel):
    """Raise to resolution ("point of contact to outcome"), beside time to answer and to attend of
    the same alerts."""

    priority: int | None = None
    outcome: Outcome | None = None  # None: every outcome
    resolved: Count = 0
    median_minutes: Figure = None
    p90_minutes: Figure = None
    answered: Count = 0  # of the resolved alerts, answered by the centre
    median_answer_seconds: Figure = None
    attended: Count = 0  # of the resolved alerts, attended by a responder
    median_attend_minutes: Figure = None


class _Report(BaseModel):
    start: date | None
    end: date | None
    district: str | None
    priority: int | None


class AnswerReport(_Report):
    total: AckTimes
    by_priority: list[AckTimes]
    by_month: list[AckTimes]

    def rows(self) -> list[AckTimes]:
        return [self.total, *self.by_priority, *self.by_month]


class AttendReport(_Report):
    total: AttendTimes
    by_priority: list[AttendTimes]
    by_month: list[AttendTimes]

    def rows(self) -> list[AttendTimes]:
        return [self.total, *self.by_priority, *self.by_month]


class OutcomeTimesReport(_Report):
    total: OutcomeTimes
    by_outcome: list[OutcomeTimes]
    by_priority: list[OutcomeTimes]

    def rows(self) -> list[OutcomeTimes]:
        return [self.total, *self.by_outcome, *self.by_priority]


# Raw counts and the homes behind each, by field name (hidden ones too).
Counted = tuple[dict[str, Any], dict[str, int]]


def _homes(sets: dict[str, set[str]]) -> dict[str, int]:
    return {k: len(v) for k, v in sets.items()}


def answer_counts(times: Iterable[AlertTimes]) -> Counted:
    seconds: list[float] = []
    n: defaultdict[str, int] = defaultdict(int)
    homes: defaultdict[str, set[str]] = defaultdict(set)

    def add(field: str, home: str) -> None:
        n[field] += 1
        homes[field].add(home)

    for a in times:
        s = a.answer_s()
        if s is not None:
            seconds.append(s)
            add("acknowledged", a.home_id)
            add("within_60s" if s <= ACK_TARGETS_S[0] else BETWEEN_TARGETS if s <= ACK_TARGETS_S[1]
                else "over_180s", a.home_id)
        elif a.state in OPEN_STATES:
            add("awaiting_acknowledgement", a.home_id)
            continue
        else:
            add("never_acknowledged", a.home_id)
            add("acknowledged_by_family_only" if a.family_acknowledged else OTHER_MISSES, a.home_id)
        add("alerts", a.home_id)
    n["within_180s"] = n["within_60s"] + n[BETWEEN_TARGETS]
    homes["within_180s"] = homes["within_60s"] | homes[BETWEEN_TARGETS]
    ordered = sorted(seconds)
    counted = ("alerts", "acknowledged", "within_60s", "within_180s", "over_180s", "never_acknowledged",
               "acknowledged_by_family_only", "awaiting_acknowledgement", BETWEEN_TARGETS, OTHER_MISSES)
    values = {k: n[k] for k in counted} | {
        "share_within_60s": ratio(n["within_60s"], n["alerts"]), "share_within_180s": ratio(n["within_180s"], n["alerts"]),
        "median_seconds": quantile(ordered, 0.5), "p90_seconds": quantile(ordered, 0.9)}
    return values, _homes(homes)


def attend_counts(times: Iterable[AlertTimes]) -> Counted:
    minutes, homes = [], set()
    for a in times:
        if (m := a.attend_min()) is not None:
            minutes.append(m)
            homes.add(a.home_id)
    ordered = sorted(minutes)
    return ({"attended": len(ordered), "median_minutes": quantile(ordered, 0.5), "p90_minutes": quantile(ordered, 0.9)},
            {"attended": len(homes)})


def outcome_counts(times: Iterable[AlertTimes]) -> Counted:
    lists: dict[str, list[float]] = {"resolved": [], "answered": [], "attended": []}
    homes: defaultdict[str, set[str]] = defaultdict(set)
    for a in times:
        if (m := a.outcome_min()) is None:
            continue
        lists["resolved"].append(m)
        homes["resolved"].add(a.home_id)
        for field, value, missing in (("answered", a.answer_s(), "unanswered"), ("attended", a.attend_min(), "unattended")):
            if value is None:
                homes[missing].add(a.home_id)
            else:
                lists[field].append(value)
                homes[field].add(a.home_id)
    r, s, t = (sorted(v) for v in lists.values())
    values = {"resolved": len(r), "median_minutes": quantile(r, 0.5), "p90_minutes": quantile(r, 0.9),
              "answered": len(s), "median_answer_seconds": quantile(s, 0.5),
              "attended": len(t), "median_attend_minutes": quantile(t, 0.5),
              "unanswered": len(r) - len(s), "unattended": len(r) - len(t)}
    return values, _homes(homes)


def grouped(times: list[AlertTimes], count: Callable[[Iterable[AlertTimes]], Counted], priority: int | None,
            months: list[str]) -> dict[tuple, Counted]:
    """The counts of every alert ("all",), by priority ("priority", p) (only the one asked for, if
    any) and by month ("month", label), each month of the range listed."""
    out = {("all",): count(times)}
    for p in [priority] if priority is not None else PRIORITIES:
        out[("priority", p)] = count(a for a in times if a.priority == p)
    for label in months:
        out[("month", label)] = count(a for a in times if month_of(a.raised_at) == label)
    return out


def by_outcome(times: list[AlertTimes]) -> dict[tuple, Counted]:
    return {("outcome", o): outcome_counts(a for a in times if a.outcome is o) for o in Outcome}
