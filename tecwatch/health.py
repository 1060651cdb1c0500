"""Liveness for container health checks: each long-running service touches its heartbeat file
while it is doing its job (ingest: connected and storing; alerts: scheduled passes succeeding),
and ``tecwatch healthcheck SERVICE`` says whether the beat is recent."""

from __future__ import annotations

import time
from pathlib import Path


def heartbeat_path(data_dir: Path, service: str) -> Path:
    return data_dir / "health" / service


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def stale(path: Path, max_age_s: float) -> str | None:
    """Why the service looks unhealthy, or None when its last beat is recent enough."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat yet ({path})"
    if age > max_age_s:
        return f"last heartbeat {age:.0f} s ago (more than {max_age_s:.0f} s)"
    return None
