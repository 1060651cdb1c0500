"""An alert engine with its dispatcher thread, built from settings (used by every worker)."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine

from tecwatch.alerts.engine import AlertEngine
from tecwatch.alerts.escalation import Dispatcher
from tecwatch.alerts.notify import DefaultSender, Sender
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import AlertSettings
from tecwatch.supervise import Supervisor


class AlertRuntime:
    def __init__(self, engine: Engine, settings: AlertSettings, sender: Sender | None = None,
                 supervisor: Supervisor | None = None):
        upgrade(engine)
        self._settings = settings
        self._supervisor = supervisor or Supervisor()
        self._own_sender = sender is None
        self.sender = sender or DefaultSender(settings.signing_key,
                                              settings.webhook_timeout_s)
        self.dispatcher = Dispatcher(engine, settings, self.sender)
        self.engine = AlertEngine(engine, kick=self.dispatcher.kick, default_tz=settings.timezone)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = self._supervisor.spawn("alert-dispatcher", lambda: self.dispatcher.run(self._stop), self._stop)
        self.dispatcher.kick()  # whatever fell due while nobody was running

    def problem(self) -> str | None:
        """Why escalation is not running, if it is not (its passes stopped completing)."""
        quiet = time.monotonic() - self.dispatcher.last_pass_at
        limit = max(60.0, 6 * self._settings.dispatch_interval_s)
        return f"escalation and delivery have not completed a pass for {quiet:.0f} s" if quiet > limit else None

    def stop(self) -> None:
        self._stop.set()
        self.dispatcher.kick()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._own_sender and isinstance(self.sender, DefaultSender):
            self.sender.close()
