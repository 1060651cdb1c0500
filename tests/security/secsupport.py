"""Helpers for the security tests: the API on a real uvicorn, set up as `tecwatch api` sets it up
(optionally in production mode), with a clock the test moves."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import uvicorn

from tecwatch.api.app import create_app, server_config
from tecwatch.localservices import free_port
from tecwatch.settings import RegistrySettings, Settings, StoreSettings

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextmanager
def serve(registry_url: str, data_dir: Path, *, clock: Clock | None = None, production: bool = False,
          log_level: str = "warning", **sections) -> Iterator[tuple[str, Settings]]:
    """The app on uvicorn as `tecwatch api` runs it. ``production`` is switched on after the
    settings are checked (their production rules want Mosquitto, InfluxDB and PostgreSQL, and this
    is about the API's own behaviour)."""
    s = Settings(registry=RegistrySettings(url=registry_url), data_dir=data_dir,
                 store=StoreSettings(backend="sqlite", sqlite_path=data_dir / "readings.db"), **sections)
    if production:
        s = s.model_copy(update={"production": True})
    port = free_port()
    app = create_app(s, clock) if clock else create_app(s)
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level=log_level, timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", s
    finally:
        server.should_exit = True
        thread.join(timeout=10)
