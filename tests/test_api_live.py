"""Live alert updates (server-sent events) over a real HTTP server: a change made by another
process's connection reaches the console, and only consoles allowed to see it."""

from __future__ import annotations

import json
import queue
import threading
from datetime import datetime, timezone

import httpx
import pytest

from tecwatch.alerts import service
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import ApiSettings

from apisupport import api_server, seed_cast, signed_in

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


class Listener:
    """Reads an event stream on a thread; events land in a queue as (event, id, data)."""

    def __init__(self, client: httpx.Client, headers: dict[str, str] | None = None):
        self.events: queue.Queue = queue.Queue()
        self._client, self._headers = client, headers or {}
        self._ready = threading.Event()
        self._closing = False
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stream did not open"

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self._closing:
                raise

    def _read(self) -> None:
        with self._client.stream("GET", "/api/alerts/stream", headers=self._headers, timeout=None) as r:
            self._response = r
            assert r.status_code == 200
            event: dict[str, str] = {}
            for line in r.iter_lines():
                if line == "":
                    if event.get("event") == "ready":
                        self._ready.set()
                    elif event:
                        self.events.put((event.get("event"), int(event["id"]), json.loads(event.get("data", "{}"))))
                    event = {}
                elif ":" in line and not line.startswith(":"):
                    key, _, value = line.partition(":")
                    event[key] = value.strip()

    def next(self, timeout: float = 10):
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._closing = True
        if self._response is not None:
            self._response.close()
        self._thread.join(0.5)  # a daemon thread: it ends when the server closes the stream

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def live(registry_url, tmp_path):
    engine = make_engine(registry_url)
    upgrade(engine)
    seed_cast(engine)
    with api_server(registry_url, tmp_path, api=ApiSettings(stream_poll_s=0.2)) as (base_url, _):
        yield base_url, engine
    engine.dispose()


def test_changes_reach_the_console_live(live):
    base_url, engine = live
    alerts = AlertEngine(engine, clock=lambda: T0)
    with signed_in(base_url, "operator") as operator, signed_in(base_url, "family-2") as beryls:
        with Listener(operator) as console, Listener(beryls) as other_family:
            _watch(engine, alerts, operator, console, other_family)


def _watch(engine, alerts, operator, console, other_family) -> None:
    [fall] = alerts.raise_hits([RuleHit("home-1", "fall_detected", T0, "Fall detected", {}, "fall-1")])
    kind, first_id, data = console.next()
    assert (kind, data["alert_id"], data["kind"], data["state"], data["home_id"]) == \
        ("alert", fall, "raised", "raised", "home-1")
    service.acknowledge(engine, fall, "operator Sam")
    kind, second_id, data = console.next()
    assert (data["alert_id"], data["kind"], data["state"]) == (fall, "acknowledged", "acknowledged")
    assert second_id > first_id
    # Beryl's family sees her alerts only.
    [beryl] = alerts.raise_hits([RuleHit("home-2", "pendant", T0, "Pendant pressed", {}, "pendant-1")])
    _, _, data = other_family.next()
    assert data["alert_id"] == beryl
    assert console.next()[2]["alert_id"] == beryl
    with pytest.raises(queue.Empty):
        other_family.next(timeout=1)
    # A console that reconnects with Last-Event-ID gets what it missed, in order.
    with Listener(operator, headers={"Last-Event-ID": str(first_id)}) as again:
        missed = [again.next()[2]["kind"], again.next()[2]["kind"]]
    assert missed == ["acknowledged", "raised"]
