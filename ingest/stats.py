"""Ingest progress and health counters.

Each counter has a single writer thread (the network thread counts arrivals, the writer thread
counts outcomes), so plain integers are enough; readers take a snapshot.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, timezone

from pydantic import BaseModel

from tecwatch.devices import Reading

from .deadletter import DeadLetter

_RATE_WINDOW_S = 10.0


class IngestStats(BaseModel):
    received: int
    written: int
    rejected: dict[str, int]
    redelivered: int
    retained_skipped: int
    alarms: int
    acked: int
    pending: int
    store_healthy: bool
    store_retries: int
    alarm_retries: int
    # Alarms the alert engine failed on every time (each kept as a dead letter, its reading stored).
    alarm_failures: int
    # Arrival-to-acknowledgement time of the oldest message in the latest batch.
    ack_latency_ms: float | None
    # How far behind event time the newest stored reading is (outbox backlog shows here).
    event_lag_s: float | None
    written_per_s: float
    uptime_s: float

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> str:
        lag = "-" if self.event_lag_s is None else f"{self.event_lag_s:.1f}s"
        ack = "-" if self.ack_latency_ms is None else f"{self.ack_latency_ms:.0f}ms"
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"received={self.received} written={self.written} rejected={self.rejected_total} ({reasons}) "
            f"redelivered={self.redelivered} alarms={self.alarms}"
            f"{f' ALARMS-NOT-RAISED={self.alarm_failures}' if self.alarm_failures else ''} pending={self.pending} "
            f"rate={self.written_per_s:.0f}/s ack_latency={ack} event_lag={lag} "
            f"store={'ok' if self.store_healthy else 'DOWN'}"
        )


class IngestCounters:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.received = 0
        self.redelivered = 0
        self.retained_skipped = 0
        self.alarms = 0
        self.written = 0
        self.acked = 0
        self.settled = 0
        self.rejected: Counter[str] = Counter()
        self.store_healthy = True
        self.store_retries = 0
        self.ack_latency_ms: float | None = None
        self.event_lag_s: float | None = None
        self._samples: deque[tuple[float, int]] = deque()

    def record_batch(
        self, readings: Sequence[Reading], letters: Sequence[DeadLetter], oldest_mono: float, size: int
    ) -> None:
        now = time.monotonic()
        self.written += len(readings)
        for letter in letters:
            self.rejected[letter.reason] += 1
        self.acked += size
        self.settled += size
        self.ack_latency_ms = (now - oldest_mono) * 1000
        if readings:
            newest = max(r.ts for r in readings)
            self.event_lag_s = (datetime.now(timezone.utc) - newest).total_seconds()
        self._samples.append((now, self.written))
        while self._samples and now - self._samples[0][0] > _RATE_WINDOW_S:
            self._samples.popleft()

    def snapshot(self, pending: int, alarm_retries: int = 0, alarm_failures: int = 0) -> IngestStats:
        samples = list(self._samples)
        rate = 0.0
        if len(samples) >= 2 and samples[-1][0] > samples[0][0]:
            rate = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
        return IngestStats(
            received=self.received,
            written=self.written,
            rejected=dict(self.rejected),
            redelivered=self.redelivered,
            retained_skipped=self.retained_skipped,
            alarms=self.alarms,
            acked=self.acked,
            pending=pending,
            store_healthy=self.store_healthy,
            store_retries=self.store_retries,
            alarm_retries=alarm_retries,
            alarm_failures=alarm_failures,
            ack_latency_ms=self.ack_latency_ms,
            event_lag_s=self.event_lag_s,
            written_per_s=rate,
            uptime_s=time.monotonic() - self.started,
        )
