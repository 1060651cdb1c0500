"""The response-time reports as published (api/timings.py through small-number suppression, as
api/published.py does for the other reports). Each answer is one table: its rows (every alert,
by priority, by month or by outcome) are tied by sums (each count of every alert is the sum of
the priorities' and of the months'), and within a row:

- time to answer: alerts are those answered plus those never answered; answered is within 180 s
  plus over 180 s; within 180 s is within 60 s plus those between (implied, never shown); never
  answered is those acknowledged only by family plus the rest (implied). Shares derive from the
  count and the alerts, the median and 90th percentile from the answered.
- time to attend: the medians derive from the count of alerts attended.
- alarm to outcome: resolved is answered plus unanswered, and attended plus unattended (both
  implied); each median derives from its count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tecwatch.api.disclosure import Table, mark, withheld
from tecwatch.api.reporting import month_periods
from tecwatch.api.responsetimes import AlertTimes, alert_times
from tecwatch.api.timings import (
    BETWEEN_TARGETS, OTHER_MISSES, AckTimes, AnswerReport, AttendReport, AttendTimes, Counted, OutcomeTimes,
    OutcomeTimesReport, answer_counts, attend_counts, by_outcome, grouped, outcome_counts,
)

ALL = ("all",)


@dataclass(frozen=True)
class _Shape:
    """How one row's figures are tied: counts shown, counts implied, sums, and derived figures."""

    counts: tuple[str, ...]
    hidden: tuple[str, ...] = ()
    sums: tuple[dict[str, int], ...] = ()
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)
    last: tuple[str, ...] = ()


_ANSWER = _Shape(
    counts=("alerts", "acknowledged", "within_60s", "within_180s", "over_180s", "never_acknowledged",
            "acknowledged_by_family_only", "awaiting_acknowledgement"),
    hidden=(BETWEEN_TARGETS, OTHER_MISSES),
    sums=({"alerts": 1, "acknowledged": -1, "never_acknowledged": -1},
          {"acknowledged": 1, "within_180s": -1, "over_180s": -1},
          {"within_180s": 1, "within_60s": -1, BETWEEN_TARGETS: -1},
          {"never_acknowledged": 1, "acknowledged_by_family_only": -1, OTHER_MISSES: -1}),
    derived={"share_within_60s": ("within_60s", "alerts"), "share_within_180s": ("within_180s", "alerts"),
             "median_seconds": ("acknowledged",), "p90_seconds": ("acknowledged",)},
    last=("alerts",))
_ATTEND = _Shape(counts=("attended",), derived={"median_minutes": ("attended",), "p90_minutes": ("attended",)})
_OUTCOME = _Shape(
    counts=("resolved", "answered", "attended"), hidden=("unanswered", "unattended"),
    sums=({"resolved": 1, "answered": -1, "unanswered": -1}, {"resolved": 1, "attended": -1, "unattended": -1}),
    derived={"median_minutes": ("resolved",), "p90_minutes": ("resolved",),
             "median_answer_seconds": ("answered",), "median_attend_minutes": ("attended",)},
    last=("resolved",))


def _publish(rows: dict[tuple, Counted], shape: _Shape, threshold: int) -> dict[tuple, dict[str, Any]]:
    """Each row's figures, with those to withhold marked."""
    t = Table()
    for row, (values, homes) in rows.items():
        for name in shape.counts:
            t.count((row, name), values[name], homes=homes.get(name, 0), last=row == ALL or name in shape.last)
        for name in shape.hidden:
            t.hide((row, name), values[name], homes=homes.get(name, 0))
        for s in shape.sums:
            t.relation({(row, name): c for name, c in s.items()})
        for name, sources in shape.derived.items():
            t.derive((row, name), *((row, source) for source in sources))
    for kind in {row[0] for row in rows if row != ALL}:
        parts = [row for row in rows if row[0] == kind]
        for name in (*shape.counts, *shape.hidden):
            t.relation({(ALL, name): 1} | {(row, name): -1 for row in parts})
    out = withheld(t, threshold)
    return {row: {k: mark(threshold) if (row, k) in out else v for k, v in values.items()}
            for row, (values, _) in rows.items()}


def _months(session: Session, start: date | None, end: date | None, times: list[AlertTimes]) -> list[str]:
    """The months of the range; without a start, from the first alert's or installation's, so
    that the months hold every alert and add up to the total."""
    if start is None and times:
        first = min(a.raised_at for a in times).date()
        installed = month_periods(session, None, end)
        start = min(first, date.fromisoformat(installed[0][0] + "-01")) if installed else first
    return [label for label, _, _ in month_periods(session, start, end)]


def _split(shown: dict[tuple, dict[str, Any]], kind: str) -> Iterable[tuple[Any, dict[str, Any]]]:
    return ((row[1], values) for row, values in shown.items() if row[0] == kind)


def time_to_answer(session: Session, start: date | None, end: date | None, district: str | None,
                   priority: int | None, threshold: int) -> AnswerReport:
    times = alert_times(session, start, end, district, priority)
    shown = _publish(grouped(times, answer_counts, priority, _months(session, start, end, times)), _ANSWER, threshold)
    where = {"start": start, "end": end, "district": district}

    def row(values: dict[str, Any], **group: Any) -> AckTimes:
        return AckTimes(**where, **group, **{k: v for k, v in values.items() if k in AckTimes.model_fields})

    return AnswerReport(**where, priority=priority, total=row(shown[ALL], priority=priority),
                        by_priority=[row(v, priority=p) for p, v in _split(shown, "priority")],
                        by_month=[row(v, priority=priority, month=m) for m, v in _split(shown, "month")])


def time_to_attend(session: Session, start: date | None, end: date | None, district: str | None,
                   priority: int | None, threshold: int) -> AttendReport:
    times = alert_times(session, start, end, district, priority)
    shown = _publish(grouped(times, attend_counts, priority, _months(session, start, end, times)), _ATTEND, threshold)
    return AttendReport(start=start, end=end, district=district, priority=priority,
                        total=AttendTimes(priority=priority, **shown[ALL]),
                        by_priority=[AttendTimes(priority=p, **v) for p, v in _split(shown, "priority")],
                        by_month=[AttendTimes(priority=priority, month=m, **v) for m, v in _split(shown, "month")])


def alarm_to_outcome(session: Session, start: date | None, end: date | None, district: str | None,
                     priority: int | None, threshold: int) -> OutcomeTimesReport:
    times = alert_times(session, start, end, district, priority)
    rows = grouped(times, outcome_counts, priority, []) | by_outcome(times)
    shown = _publish(rows, _OUTCOME, threshold)

    def row(values: dict[str, Any], **group: Any) -> OutcomeTimes:
        return OutcomeTimes(**group, **{k: v for k, v in values.items() if k in OutcomeTimes.model_fields})

    return OutcomeTimesReport(start=start, end=end, district=district, priority=priority,
                              total=row(shown[ALL], priority=priority),
                              by_outcome=[row(v, priority=priority, outcome=o) for o, v in _split(shown, "outcome")],
                              by_priority=[row(v, priority=p) for p, v in _split(shown, "priority")])
