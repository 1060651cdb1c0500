"""Small-number suppression: what keeps a commissioner's figure from pointing at a person.

Primary: a count from 1 to one under the threshold (``api.small_number_threshold``, 5) is withheld,
and so is a count of alerts or devices, however large, that come from fewer homes than that (a
district with one home would otherwise show that home's outcomes). Zero stays 0.

Derived: a figure worked out from a withheld count (a share, a rate, a median, a net change) is
withheld with it.

Secondary: the figures of one answer are tied by sums (a total and its parts, the months of a
series, the people who stayed and those who left). While any withheld count, or a small count the
answer never shows but implies (people who left: people less those who stayed), can still be
worked out exactly from the figures shown through those sums (any combination of them: the null
space of the sums over the unknown figures), the smallest non-zero figure shown in a sum with it
(or in one reached through other unknown figures) is withheld too; a total or a stock only when
nothing else will do. So is a figure beside withheld counts whose least values (1: a zero is
shown as 0) add up to what the sum leaves them: a total of 5 over five withheld districts would
make each of them 1.

Every withheld figure is shown as "<5" (with the threshold in place of 5), a mark that stands for
"withheld", not for the value. Not covered: figures combined across answers (another district,
day or range), and bounds short of a single value (a total of 6 over five withheld districts says
that four of them have one home)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

Key = Hashable
WITHHELD_PATTERN = r"^<[0-9]+$"
Withheld = Annotated[str, Field(pattern=WITHHELD_PATTERN, description='Withheld for small numbers, e.g. "<5"')]
Count = int | Withheld
Figure = float | Withheld | None

_TOLERANCE = 1e-9


def mark(threshold: int) -> str:
    return f"<{threshold}"


@dataclass
class Table:
    """The figures of one answer, and how they are tied together."""

    cells: dict[Key, int] = field(default_factory=dict)  # figures shown that sums may hold
    hidden: dict[Key, int] = field(default_factory=dict)  # implied by sums, never shown
    homes: dict[Key, int] = field(default_factory=dict)  # how many homes a count of alerts or devices comes from
    sums: list[dict[Key, int]] = field(default_factory=list)  # sum(coefficient * figure) is known
    derived: dict[Key, tuple[Key, ...]] = field(default_factory=dict)
    last: set[Key] = field(default_factory=set)  # totals and stocks: withheld beside another only if need be
    not_counts: set[Key] = field(default_factory=set)
    forced: set[Key] = field(default_factory=set)  # withheld where the same figure appears in another answer

    def count(self, key: Key, value: int, *, homes: int | None = None, last: bool = False) -> None:
        self.cells[key] = value
        if homes is not None:
            self.homes[key] = homes
        if last:
            self.last.add(key)

    def hide(self, key: Key, value: int, *, homes: int | None = None) -> None:
        self.hidden[key] = value
        if homes is not None:
            self.homes[key] = homes

    def derive(self, key: Key, *sources: Key, value: int | None = None) -> None:
        """A figure worked out from ``sources``; with a ``value``, one that sums may hold (a net change)."""
        self.derived[key] = sources
        if value is not None:
            self.cells[key] = value
            self.not_counts.add(key)

    def total(self, total: Key, parts: Iterable[Key]) -> None:
        self.sums.append({total: 1} | {p: -1 for p in parts})

    def relation(self, coefficients: dict[Key, int]) -> None:
        self.sums.append(dict(coefficients))


def withheld(table: Table, threshold: int) -> frozenset[Key]:
    """The keys of every figure to withhold from the table."""

    def small(key: Key, value: int) -> bool:
        return 0 < value < threshold or 0 < table.homes.get(key, threshold) < threshold

    out = {k for k, v in table.cells.items() if k not in table.not_counts and small(k, v)} | table.forced
    protect = {k for k in out if k in table.cells} | {k for k, v in table.hidden.items() if small(k, v)}
    while True:
        _close(table, out)
        determined = _determined(table, out)
        exposed = [k for k in determined if k in protect] or _pinned(table, out, protect, set(determined))
        if not exposed:
            return frozenset(out)
        companion = _companion(table, exposed[0], out)
        if companion is None:  # worked out from zeros and known constants alone: nothing to hide it with
            protect.discard(exposed[0])
        else:
            out.add(companion)


def _close(table: Table, out: set[Key]) -> None:
    """Withhold every figure worked out from a withheld one (derived figures may build on each other)."""
    grew = True
    while grew:
        grew = False
        for key, sources in table.derived.items():
            if key not in out and any(s in out for s in sources):
                out.add(key)
                grew = True


def _unknowns(table: Table, out: set[Key]) -> list[Key]:
    in_sums = {k for s in table.sums for k in s}
    return [k for k in [*table.cells, *table.hidden] if k in in_sums and (k in out or k in table.hidden)]


def _determined(table: Table, out: set[Key]) -> list[Key]:
    """The unknown figures the sums pin down (those every solution of the sums agrees on), shown
    figures before implied ones, each in the table's order."""
    unknown = _unknowns(table, out)
    if not unknown:
        return []
    column = {k: i for i, k in enumerate(unknown)}
    rows = [s for s in table.sums if any(k in column for k in s)]
    a = np.zeros((len(rows), len(unknown)))
    for r, s in enumerate(rows):
        for k, coefficient in s.items():
            if k in column:
                a[r, column[k]] = coefficient
    _, singular, vt = np.linalg.svd(a)
    rank = int((singular > _TOLERANCE * max(1.0, singular.max(initial=0.0))).sum())
    free = vt[rank:]  # a basis of the directions in which the unknowns can move together
    return [k for k, i in column.items() if not np.any(np.abs(free[:, i]) > 1e-8)]


def _pinned(table: Table, out: set[Key], protect: set[Key], known: set[Key]) -> list[Key]:
    """Protected figures a sum fixes at their least values (withheld counts at 1, implied ones at 0);
    withheld figures the sums determine (``known``) count as shown."""
    for coefficients in table.sums:
        unknown = [k for k in coefficients
                   if (k in table.hidden or (k in out and k in table.cells)) and k not in known]
        if not unknown or table.not_counts.intersection(unknown) or len({coefficients[k] for k in unknown}) != 1:
            continue
        each = coefficients[unknown[0]]
        left = -sum(c * table.cells.get(k, table.hidden.get(k, 0))
                    for k, c in coefficients.items() if k not in unknown) / each
        if left == sum(0 if k in table.hidden else 1 for k in unknown):
            if hits := [k for k in unknown if k in protect]:
                return hits
    return []


def _companion(table: Table, key: Key, out: set[Key]) -> Key | None:
    """The figure to withhold beside an exposed one: the smallest non-zero one shown in a sum with
    it, else in a sum reached through other unknown figures; a total or a stock only if no other
    figure is anywhere in reach (then the nearest)."""
    order = {k: i for i, k in enumerate(table.cells)}

    def best(keys: set[Key]) -> Key:
        return min(keys, key=lambda k: (abs(table.cells[k]), order[k]))

    seen, frontier, fallback = {key}, [key], None
    while frontier:
        near = [s for s in table.sums if any(k in s for k in frontier)]
        shown = {k for s in near for k in s if k in table.cells and k not in out and table.cells[k] != 0}
        if inner := shown - table.last:
            return best(inner)
        if shown and fallback is None:
            fallback = best(shown)
        frontier = [k for s in near for k in s if k not in seen and (k in out or k in table.hidden)]
        seen.update(frontier)
    return fallback


def apply(model: BaseModel, hidden: Iterable[str], threshold: int) -> Any:
    """A copy of a flat report model with the named fields withheld."""
    return model.model_copy(update={name: mark(threshold) for name in hidden if name in type(model).model_fields})
