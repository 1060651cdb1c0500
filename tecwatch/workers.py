"""Several ingest worker processes on one MQTT shared subscription, supervised.

One Python process is bounded by its interpreter lock; more throughput comes from more
processes. Each worker has its own persistent session (client id ``<client_id>-<n>``), so a
worker that dies keeps its unacknowledged messages at the broker until it is restarted under
the same id, and the supervisor restarts it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import threading
import time

from tecwatch import logs
from tecwatch.health import beat, heartbeat_path
from tecwatch.settings import Settings

log = logging.getLogger(__name__)
HEARTBEAT_S = 15.0  # the health check allows several missed beats


def worker_settings(settings: Settings, index: int) -> Settings:
    ingest = settings.ingest.model_copy(
        update={
            "client_id": f"{settings.ingest.client_id}-{index}",
            "share_group": settings.ingest.share_group or settings.ingest.client_id,
            "workers": 1,
        }
    )
    return settings.model_copy(update={"ingest": ingest})


def run_worker(settings: Settings) -> None:
    """Run one ingest worker in this process until SIGTERM/SIGINT."""
    from .runner import IngestWorker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = IngestWorker(settings)
    worker.start()
    heartbeat = heartbeat_path(settings.data_dir, "ingest")
    while not stop.wait(HEARTBEAT_S):
        if worker.healthy():
            beat(heartbeat)
    worker.stop()


def _child_main(settings: Settings, index: int) -> None:
    logs.configure(settings.log_level, tag=f"[worker {index}] ")
    run_worker(worker_settings(settings, index))


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

    def run(self, stop: threading.Event) -> None:
        for i in range(self._settings.ingest.workers):
            self._spawn(i)
        while not stop.wait(0.5):
            for index, proc in list(self._procs.items()):
                if not proc.is_alive():
                    log.error("ingest worker %d exited (code %s); restarting", index, proc.exitcode)
                    time.sleep(self._restart_delay_s)
                    self._spawn(index)
        for proc in self._procs.values():
            proc.terminate()  # SIGTERM: each worker stores and acknowledges what it has, then exits
        for proc in self._procs.values():
            proc.join(30)
            if proc.is_alive():
                proc.kill()
