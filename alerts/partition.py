"""Which alert worker evaluates which homes, when several run.

Each worker keeps a lease in the registry (``alert_workers``: its name and when it last said it
was alive). The live workers are those whose lease is fresh; a home belongs to the live worker
with the highest hash of (worker, home) (rendezvous hashing). So every worker computes the same
owner for every home without talking to the others, and when a worker joins or leaves only the
homes it gains or loses move: a worker that dies stops renewing, and once its lease runs out
the others take its homes on their next pass (learning them from the store). An alert is not
raised twice while a home moves: the registry keeps one open alert per home and rule, and when
each rule last held (alerts/episodes.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.registry.models import AlertWorker

log = logging.getLogger(__name__)


def owner(home_id: str, workers: list[str]) -> str:
    return max(workers, key=lambda w: hashlib.blake2b(f"{w}\x00{home_id}".encode(), digest_size=8).digest())


class Membership:
    def __init__(self, engine: Engine, name: str, lease: timedelta,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.name = name
        self._engine = engine
        self._lease = lease
        self._clock = clock
        self.workers: list[str] = [name]

    def renew(self) -> list[str]:
        """Renew this worker's lease and read who is alive; returns the live workers, sorted."""
        now = self._clock()
        with Session(self._engine) as s, s.begin():
            renewed = s.execute(update(AlertWorker).where(AlertWorker.name == self.name)
                                .values(heartbeat_at=now)).rowcount
            if not renewed:
                s.add(AlertWorker(name=self.name, heartbeat_at=now, joined_at=now))
        with Session(self._engine) as s:
            alive = sorted(set(s.scalars(select(AlertWorker.name).where(AlertWorker.heartbeat_at >= now - self._lease)))
                           | {self.name})
        if alive != self.workers:
            log.info("alert workers now %s (this is %s)", ", ".join(alive), self.name)
        self.workers = alive
        return alive

    def owns(self, home_id: str) -> bool:
        return owner(home_id, self.workers) == self.name

    def leave(self) -> None:
        """A clean stop: the others take this worker's homes at once, not when the lease runs out."""
        with Session(self._engine) as s, s.begin():
            s.execute(delete(AlertWorker).where(AlertWorker.name == self.name))
