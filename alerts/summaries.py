"""Learned routines saved for people to read: each nightly learning replaces the rows of the homes
it learned (and only those, so workers that learn different homes do not undo each other)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.alerts.baseline import Baselines
from tecwatch.registry.models import HomeBaseline

CHUNK = 1000


def save_summaries(engine: Engine, baselines: Baselines, learned_at: datetime) -> None:
    rows = [
        {
            "home_id": home_id,
            "learned_at": learned_at,
            "learned": bool(baselines.learned[i]),
            "days_of_history": int(baselines.days_of_history[i]),
            "wake_median_min": float(baselines.wake_median[i]),
            "up_by_min": float(baselines.wake_p90[i]),
            "bed_median_min": float(baselines.bed_median[i]),
            "active_by_hour": {str(h): round(float(baselines.active_by_hour[i, h]), 3) for h in range(24)},
            "summary": baselines.explain(i),
            "limits": baselines.values(i),
        }
        for i, home_id in enumerate(baselines.home_ids)
    ]
    with Session(engine) as s, s.begin():  # one transaction: readers see last night's or tonight's
        for n in range(0, len(rows), CHUNK):
            chunk = rows[n:n + CHUNK]
            s.execute(delete(HomeBaseline).where(HomeBaseline.home_id.in_([r["home_id"] for r in chunk])))
            s.execute(HomeBaseline.__table__.insert(), chunk)
