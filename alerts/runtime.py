"""An alert engine with its dispatcher thread, built from settings (used by every worker)."""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from tecwatch.alerts.engine import AlertEngine
from tecwatch.alerts.escalation import Dispatcher
from tecwatch.alerts.notify import DefaultSender, Sender
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import AlertSettings


class AlertRuntime:
    def __init__(self, engine: Engine, settings: AlertSettings, sender: Sender | None = None):
        upgrade(engine)
        self._own_sender = sender is None
        self.sender = sender or DefaultSender(settings.signing_key,
                                              settings.webhook_timeout_s)
        self.dispatcher = Dispatcher(engine, settings, self.sender)
        self.engine = AlertEngine(engine, kick=self.dispatcher.kick, default_tz=settings.timezone)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.dispatcher.run, args=(self._stop,), name="alert-dispatcher",
                                        daemon=True)
        self._thread.start()
        self.dispatcher.kick()  # whatever fell due while nobody was running

    def stop(self) -> None:
        self._stop.set()
        self.dispatcher.kick()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._own_sender and isinstance(self.sender, DefaultSender):
            self.sender.close()
