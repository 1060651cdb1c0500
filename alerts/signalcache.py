"""Completed days of signals on disk, one file per UTC day.

The nightly relearn needs 28 days of every home. Folding 28 days of raw readings again each
night costs minutes per thousand homes; a finished day's signal planes are small, so each day
is folded once and kept. Recent days are checked against the store's own counts each night,
because an outbox may deliver late. An erased home is taken out of every day kept, at once by
the erasure where it can reach the files, else at the worker's next learning.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Collection, Sequence
from datetime import date
from pathlib import Path

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
        self._write(self.path(day), home_ids, planes)

    def _write(self, path: Path, home_ids: Sequence[str], planes: np.ndarray) -> None:
        # Hidden and per process: another process rewriting the day never sees (or takes) it.
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, planes=planes, home_ids=np.array(list(home_ids), dtype=str))
        os.replace(tmp, path)  # readers never see half a file

    def forget_home(self, home_id: str) -> int:
        """Erasure: rewrite every day kept without the home's rows. Returns how many files changed."""
        return self._forget(lambda h: h == home_id)

    def forget_all_but(self, home_ids: Collection[str]) -> int:
        """Drop the rows of every home not among ``home_ids`` (homes erased or removed since)."""
        keep = set(home_ids)
        return self._forget(lambda h: h not in keep)

    def _forget(self, gone: Callable[[str], bool]) -> int:
        changed = 0
        for path in sorted(self.directory.glob("signals-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as f:
                    home_ids = f["home_ids"].tolist()
                    keep = [i for i, h in enumerate(home_ids) if not gone(h)]
                    if len(keep) == len(home_ids):
                        continue
                    planes = f["planes"]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                planes = None  # a broken file (a write cut short): the learning folds the day again
            if planes is None or not keep or planes.ndim != 3 or planes.shape[1] != len(home_ids):
                path.unlink(missing_ok=True)
            else:
                self._write(path, [home_ids[i] for i in keep], planes[:, keep, :])
            changed += 1
        return changed

    def prune(self, keep_from: date) -> None:
        for path in self.directory.glob("signals-*.npz"):
            try:
                day = date.fromisoformat(path.stem.removeprefix("signals-"))
            except ValueError:
                continue
            if day < keep_from:
                path.unlink(missing_ok=True)
