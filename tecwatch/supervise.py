"""Long-lived threads that cannot die quietly.

A service thread that dies while the process stays up is the worst failure there is: the
process looks alive, its connection may even be up, and nothing more is stored or raised. So
every long-lived thread runs under a ``Supervisor``: if it raises, or returns while it should
still be running, the supervisor logs why and, by default, ends the whole process with a
non-zero code so that whatever runs it (systemd, Docker, the ingest worker pool) starts it again.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

log = logging.getLogger(__name__)

# The exit code of a process ended because one of its threads died (EX_SOFTWARE).
THREAD_DIED_EXIT = 70
# The exit code of a process that cannot do its job as configured (EX_CONFIG): restarting it
# will not help.
REFUSED_EXIT = 78

OnDeath = Callable[[str, BaseException | None], None]


def exit_process(thread: str, error: BaseException | None) -> None:
    """Say which thread died and why, then end the process at once, from this thread."""
    why = "returned while it should still be running" if error is None else (
        "died: " + "".join(traceback.format_exception_only(type(error), error)).strip())
    log.critical("thread %s %s; exiting (code %d) so that the supervisor restarts this process",
                 thread, why, THREAD_DIED_EXIT)
    if error is not None:
        log.critical("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    sys.stderr.flush()
    # os._exit, not sys.exit: sys.exit in a thread only ends that thread.
    os._exit(THREAD_DIED_EXIT)


def refuse_to_run(reason: str) -> None:
    log.critical("refusing to run: %s", reason)
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    os._exit(REFUSED_EXIT)


class Supervisor:
    """Starts threads and calls ``on_death`` (default: exit the process) if one of them ends
    before its ``stop`` event is set; ``refuse`` ends the process when it cannot work at all."""

    def __init__(self, on_death: OnDeath = exit_process, on_refusal: Callable[[str], None] = refuse_to_run):
        self._on_death = on_death
        self.refuse = on_refusal

    def spawn(self, name: str, target: Callable[[], object], stop: threading.Event) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except BaseException as err:  # noqa: BLE001 - the point is to catch everything
                if stop.is_set():
                    log.warning("thread %s failed while stopping: %r", name, err)
                else:
                    self._on_death(name, err)
                return
            if not stop.is_set():
                self._on_death(name, None)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C, so long-running commands stop cleanly."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop
