"""Completed days of signals on disk, one file per UTC day.

The nightly relearn needs 28 days of every home. Folding 28 days of raw readings again each
night costs minutes per thousand homes; a finished day's signal planes are small, so each day
is folded once and kept. Recent days are checked against the store's own counts each night,
because an outbox may deliver late.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Sequence

import numpy as np

from tecwatch.alerts.signals import N_SIGNALS


class DayCache:
    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, day: date) -> Path:
        return self.directory / f"signals-{day.isoformat()}.npz"

    def load(self, day: date, home_ids: Sequence[str], empty_row: np.ndarray) -> tuple[np.ndarray, list[int]] | None:
        """(signals, homes, buckets) for these homes in this order, and the rows of homes the
        day was kept without (filled with ``empty_row``, a (signals, buckets) array); None if
        the day was not kept, or kept in another layout."""
        path = self.path(day)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            planes = f["planes"]
            if planes.ndim != 3 or planes.shape[0] != N_SIGNALS or planes.shape[2] != empty_row.shape[1]:
                return None  # written by a version with other signals or buckets
            kept = {h: i for i, h in enumerate(f["home_ids"].tolist())}
            out = np.empty((planes.shape[0], len(home_ids), planes.shape[2]), planes.dtype)
            found = [i for i, h in enumerate(home_ids) if h in kept]
            out[:, found, :] = planes[:, [kept[home_ids[i]] for i in found], :]
            missing = [i for i, h in enumerate(home_ids) if h not in kept]
            out[:, missing, :] = empty_row[:, None, :]
            return out, missing

    def save(self, day: date, home_ids: Sequence[str], planes: np.ndarray) -> None:
        tmp = self.path(day).with_suffix(".tmp.npz")
        np.savez(tmp, planes=planes, home_ids=np.array(list(home_ids), dtype=str))
        os.replace(tmp, self.path(day))  # readers never see half a file

    def prune(self, keep_from: date) -> None:
        for path in self.directory.glob("signals-*.npz"):
            try:
                day = date.fromisoformat(path.stem.removeprefix("signals-"))
            except ValueError:
                continue
            if day < keep_from:
                path.unlink(missing_ok=True)
