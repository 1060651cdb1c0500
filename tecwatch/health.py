"""Health for container checks: progress, not just a connection.

Each long-running service writes its status file every few seconds: whether it is doing its
job (ingest: messages stored and acknowledged, nothing stuck; alerts: rule passes and
escalation running) and its progress in words. ``tecwatch healthcheck SERVICE`` reads it: a
status that is stale (the process hangs or is gone) or says what is wrong is unhealthy.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Health:
    """``problem`` says why the service is not doing its job (None: it is); ``summary`` is its
    progress in words."""

    problem: str | None
    summary: str

    @property
    def ok(self) -> bool:
        return self.problem is None


def heartbeat_path(data_dir: Path, service: str) -> Path:
    return data_dir / "health" / service


def write_status(path: Path, health: Health) -> None:
    """Replace the status file in one step, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"problem": health.problem, "summary": health.summary, "pid": os.getpid()}))
    os.replace(tmp, path)


def read_status(path: Path, max_age_s: float) -> Health:
    """The service's health as its status file says, or why that cannot be trusted."""
    try:
        age = time.time() - path.stat().st_mtime
        status = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return Health(f"no heartbeat yet ({path})", "")
    except (OSError, ValueError) as err:
        return Health(f"unreadable status {path}: {err}", "")
    if age > max_age_s:
        return Health(f"last heartbeat {age:.0f} s ago (more than {max_age_s:.0f} s)", status.get("summary", ""))
    return Health(status.get("problem"), status.get("summary", ""))
