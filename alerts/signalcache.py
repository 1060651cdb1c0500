"""Completed days of signals on disk, one file per UTC day.

The nightly relearn needs 28 days of every home. Folding 28 days of raw readings again each
night costs minutes per thousand homes; a finished day's signal planes are small, so each day
is folded once and kept. Recent days are always re-read, because an outbox may deliver late.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Sequence

import numpy as np


class DayCache:
    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, day: date) -> Path:
        return self.directory / f"signals-{day.isoformat()}.npz"

    def load(self, day: date, home_ids: Sequence[str]) -> np.ndarray | None:
        """(signals, homes, buckets) for these homes in this order, or None if the day was not
        kept or lacks one of them."""
        path = self.path(day)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            kept = {h: i for i, h in enumerate(f["home_ids"].tolist())}
            if any(h not in kept for h in home_ids):
                return None
            return np.ascontiguousarray(f["planes"][:, [kept[h] for h in home_ids], :])

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
