"""Several ingest worker processes on one MQTT shared subscription, supervised.

One Python process is bounded by its interpreter lock; more throughput comes from more
processes. Each worker has its own persistent session (client id ``<client_id>-<n>``), so a
worker that dies keeps its unacknowledged messages at the broker until it is restarted under
the same id, and the pool restarts it. Each worker writes its own health status
(``ingest.<n>``); the pool writes ``ingest`` from theirs, so one health check covers them all.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time

from tecwatch import logs
from tecwatch.health import Health, heartbeat_path, read_status, write_status
from tecwatch.settings import Settings
from tecwatch.supervise import REFUSED_EXIT, stop_on_signals

log = logging.getLogger(__name__)


def worker_settings(settings: Settings, index: int) -> Settings:
    ingest = settings.ingest.model_copy(
        update={
            "client_id": f"{settings.ingest.client_id}-{index}",
            "share_group": settings.ingest.share_group or settings.ingest.client_id,
            "workers": 1,
        }
    )
    return settings.model_copy(update={"ingest": ingest})


def run_ingest(settings: Settings, status_name: str = "ingest") -> None:
    """Run one ingest worker in this process until SIGTERM/SIGINT."""
    from tecwatch.services import Ingest, serve

    serve(status_name, Ingest(settings), settings, stop_on_signals())


def _child_main(settings: Settings, index: int) -> None:
    logs.configure(settings.log_level, tag=f"[worker {index}] ")
    run_ingest(worker_settings(settings, index), f"ingest.{index}")


class WorkerPool:
    """Starts ``settings.ingest.workers`` processes and restarts any that die."""

    def __init__(self, settings: Settings, restart_delay_s: float = 1.0):
        self._settings = settings
        self._restart_delay_s = restart_delay_s
        self._ctx = mp.get_context("spawn")
        self._procs: dict[int, mp.process.BaseProcess] = {}

    def _spawn(self, index: int) -> None:
        proc = self._ctx.Process(target=_child_main, args=(self._settings, index), name=f"ingest-worker-{index}")
        proc.start()
        self._procs[index] = proc
        log.info("ingest worker %d started (pid %d)", index, proc.pid)

    def health(self) -> Health:
        """Healthy when every worker is."""
        problems, summaries = [], []
        for index in sorted(self._procs):
            h = read_status(heartbeat_path(self._settings.data_dir, f"ingest.{index}"), 30.0)
            if h.problem:
                problems.append(f"worker {index}: {h.problem}")
            summaries.append(f"worker {index}: {h.summary or '-'}")
        return Health("; ".join(problems) or None, "; ".join(summaries))

    def run(self, stop: threading.Event) -> int:
        """Until ``stop``; 0, or the exit code of a worker that refused to run (all stop then)."""
        code = 0
        for i in range(self._settings.ingest.workers):
            self._spawn(i)
        status = heartbeat_path(self._settings.data_dir, "ingest")
        next_status = time.monotonic() + 10.0  # the workers' first statuses come after a few seconds
        while not stop.wait(0.5):
            for index, proc in list(self._procs.items()):
                if not proc.is_alive() and proc.exitcode == REFUSED_EXIT:
                    log.critical("ingest worker %d refused to run as configured; stopping the others", index)
                    code = REFUSED_EXIT
                    stop.set()
                    break
                if not proc.is_alive():
                    log.error("ingest worker %d exited (code %s); restarting", index, proc.exitcode)
                    time.sleep(self._restart_delay_s)
                    self._spawn(index)
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + 5.0
                write_status(status, self.health())
        for proc in self._procs.values():
            proc.terminate()  # SIGTERM: each worker stores and acknowledges what it has, then exits
        for proc in self._procs.values():
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        return code
