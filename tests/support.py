"""Helpers for tests that talk to real brokers and stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt

from tecwatch.mqtt import disconnect_and_stop
from tecwatch.store import TimeSeriesStore
from tecwatch.localservices import die_with_parent


@dataclass(frozen=True)
class Sent:
    topic: str
    payload: bytes
    home_id: str
    device_id: str
    ts: datetime


def reading_stream(
    count: int,
    homes: int = 10,
    devices: int = 5,
    start: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
) -> list[Sent]:
    """``count`` distinct motion/temperature readings spread over homes and devices."""
    start = start or datetime.now(timezone.utc) - timedelta(hours=1)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)  # stores keep milliseconds
    out = []
    for i in range(count):
        h, d = i % homes, (i // homes) % devices
        k = i // (homes * devices)
        home_id, device_id = f"home-{h}", f"dev-{d}"
        ts = start + k * step + timedelta(milliseconds=d)
        if d % 2:
            body = {"type": "temperature", "temperature": round(15 + (i % 100) / 10, 1)}
        else:
            body = {"type": "motion", "occupancy": bool(i % 3)}
        body |= {"ts": ts.isoformat(timespec="milliseconds"), "seq": i, "room": f"room {d}"}
        out.append(Sent(f"tec/v1/{home_id}/{device_id}/reading", json.dumps(body).encode(), home_id, device_id, ts))
    return out


class Publisher:
    """A real paho publisher at QoS 1 that can wait until the broker has taken everything."""

    def __init__(self, host: str, port: int, protocol: str = "5", client_id: str | None = None):
        v5 = protocol == "5"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        )
        self.client.username_pw_set("test-publisher")
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.connect(host, port)
        self.client.loop_start()
        self._infos: list[mqtt.MQTTMessageInfo] = []

    def publish(self, messages: Iterable[Sent | tuple[str, bytes]], qos: int = 1) -> None:
        for m in messages:
            topic, payload = (m.topic, m.payload) if isinstance(m, Sent) else m
            self._infos.append(self.client.publish(topic, payload, qos=qos))

    def wait_all_published(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for info in self._infos:
            while not info.is_published():
                if time.monotonic() > deadline:
                    done = sum(i.is_published() for i in self._infos)
                    raise AssertionError(f"broker took only {done}/{len(self._infos)} messages in {timeout}s")
                time.sleep(0.01)

    def close(self) -> None:
        disconnect_and_stop(self.client)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stored_keys(store: TimeSeriesStore, sent: Sequence[Sent]) -> set[tuple[str, str, datetime]]:
    """(home, device, ts) of everything stored for the homes in ``sent``, within its time span."""
    start = min(s.ts for s in sent) - timedelta(seconds=1)
    end = max(s.ts for s in sent) + timedelta(seconds=1)
    keys: set[tuple[str, str, datetime]] = set()
    for home in sorted({s.home_id for s in sent}):
        for r in store.readings(home, start, end, limit=1_000_000):
            keys.add((r.home_id, r.device_id, r.ts))
    return keys


def expected_keys(sent: Sequence[Sent]) -> set[tuple[str, str, datetime]]:
    return {(s.home_id, s.device_id, s.ts) for s in sent}


def count_stored(store: TimeSeriesStore, sent: Sequence[Sent]) -> int:
    return len(stored_keys(store, sent))


def run_tecwatch(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 90,
                 input: str = "") -> subprocess.CompletedProcess:
    """``tecwatch ARGS`` as a user runs it, configured only by ``env`` (no TECWATCH_* of ours leaks in)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")}
    return subprocess.run([sys.executable, "-m", "tecwatch", *args], cwd=cwd, env=base | (env or {}),
                          capture_output=True, text=True, timeout=timeout, input=input)


class TecwatchProcess:
    """A ``tecwatch <command>`` as a real OS process, configured only through its arguments and
    TECWATCH_* variables, logging to a file; ready once ``ready_marker`` appears in the log."""

    def __init__(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
                 ready_marker: bytes = b"subscribing"):
        self.args = list(args)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | (env or {})
        self.log_path = log_path
        self.ready_marker = ready_marker
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            # Killed with the test run, should it die first (a timeout, Ctrl-C): nothing left behind.
            self.proc = subprocess.Popen([sys.executable, "-m", "tecwatch", *self.args], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent if threading.current_thread() is threading.main_thread() else None)
        wait_until(lambda: self.ready_marker in self.log_path.read_bytes()[offset:], 20,
                   f"tecwatch {self.args[0]} to be ready (log: {self.log_path})")

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def make_tls(d: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    d.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=tecwatch test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}
