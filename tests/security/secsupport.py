"""Helpers for the security tests: the API on a real uvicorn, set up as `tecwatch api` sets it up
(optionally in production mode), with a clock the test moves, and a reader of the live stream."""

from __future__ import annotations

import json
import queue
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
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


class EventStream:
    """The live alert stream read on a thread, as a console reads it: every event in order, and
    whether the server has ended the stream."""

    def __init__(self, client: httpx.Client, path: str = "/api/alerts/stream"):
        self.events: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.status: int | None = None
        self.closed = threading.Event()  # the server ended the stream
        self._ready = threading.Event()
        self._client, self._path = client, path
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._ready.wait(15), "the stream did not open"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self._path, timeout=httpx.Timeout(10, read=None)) as r:
                self._response, self.status = r, r.status_code
                if r.status_code != 200:
                    self._ready.set()
                    return
                event: dict[str, str] = {}
                for line in r.iter_lines():
                    if line == "":
                        if event.get("event") == "ready":
                            self._ready.set()
                        elif event:
                            self.events.put((event.get("event", "message"), json.loads(event.get("data") or "{}")))
                        event = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(":")
                        event[key] = value.strip()
            self.closed.set()
        except httpx.HTTPError:
            pass  # closed from this side
        finally:
            self._ready.set()

    def next(self, timeout: float = 10) -> tuple[str, dict]:
        return self.events.get(timeout=timeout)

    def rest(self, until_closed_s: float = 10) -> list[tuple[str, dict]]:
        """Everything that arrives until the server ends the stream (or the time runs out)."""
        self.closed.wait(until_closed_s)
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._thread.join(1)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
