"""Start real Mosquitto and InfluxDB 1.x servers on loopback, for tests and benchmarks.

Each service lives in its own working directory (config, data, log) and listens only on
127.0.0.1 on free ports. ``restart()`` keeps the ports and the data, so a test can take a
service down and bring it back as clients would see it in production.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

MOSQUITTO_BIN = "/usr/sbin/mosquitto"
INFLUXD_BIN = "/usr/bin/influxd"
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` (loopback by default) that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGKILL us if our parent dies,
    # so a crashed test run leaves no servers behind.
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Service:
    """A server process with a working dir, a log file and stop/kill/restart."""

    name = "service"

    def __init__(self, workdir: Path | str, start_timeout_s: float) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    # Subclasses provide these.
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _env(self) -> dict[str, str] | None:
        return None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.workdir,
                # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only use it
                # from the main thread; elsewhere the caller's teardown must stop us.
                preexec_fn=die_with_parent if threading.current_thread() is threading.main_thread() else None,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RuntimeError(f"{self.name} exited with {code} during start:\n{_log_tail(self.log_path)}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"{self.name} not ready after {self.start_timeout_s}s:\n{_log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean shutdown (SIGTERM): servers flush their data; SIGKILL if they hang."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Abrupt death (SIGKILL), as in a crash or power cut."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        return _log_tail(self.log_path, lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto(_Service):
    """A private mosquitto broker with a persistent message store.

    ``autosave_interval_s``: how often the in-memory store is snapshotted to disk. A clean
    ``stop()`` always saves; after ``kill()`` whatever arrived since the last snapshot is lost,
    exactly as with a production mosquitto that crashes.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path | str,
        port: int | None = None,
        *,
        password_file: Path | str | None = None,
        autosave_interval_s: int = 5,
        extra_config: list[str] | tuple[str, ...] = (),
        start_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(workdir, start_timeout_s)
        self.host = HOST
        self.port = port or free_port()
        self.password_file = Path(password_file) if password_file else None
        self.autosave_interval_s = autosave_interval_s
        self.extra_config = list(extra_config)
        self.config_path = self.workdir / "mosquitto.conf"
        (self.workdir / "data").mkdir(exist_ok=True)

    def _config(self) -> str:
        lines = [
            # Started as root, mosquitto would switch to the "mosquitto" user and then
            # could not write to our directory; stay who we are.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"listener {self.port} {HOST}",
            "persistence true",
            f"persistence_location {self.workdir / 'data'}/",
            f"autosave_interval {self.autosave_interval_s}",
            # Ingest acknowledges in batches, so thousands of messages are unacked at once.
            "max_inflight_messages 20000",
            # A persistent ingest session must not drop readings queued while ingest is down
            # (the default of 1000 would silently lose data).
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        return "\n".join(lines + self.extra_config) + "\n"

    def _command(self) -> list[str]:
        self.config_path.write_text(self._config())
        return [MOSQUITTO_BIN, "-c", str(self.config_path)]

    def _ready(self) -> bool:
        return _port_open(self.port)


class Influxd(_Service):
    """A private InfluxDB 1.x server (Debian's influxd) with its own data directory."""

    name = "influxd"

    def __init__(
        self,
        workdir: Path | str,
        http_port: int | None = None,
        rpc_port: int | None = None,
        *,
        start_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(workdir, start_timeout_s)
        self.host = HOST
        self.http_port = http_port or free_port()
        self.rpc_port = rpc_port or free_port()
        while self.rpc_port == self.http_port:
            self.rpc_port = free_port()
        self.config_path = self.workdir / "influxdb.conf"
        for sub in ("meta", "data", "wal"):
            (self.workdir / sub).mkdir(exist_ok=True)

    @property
    def port(self) -> int:
        return self.http_port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def _config(self) -> str:
        d = self.workdir
        return f"""\
reporting-enabled = false
bind-address = "{HOST}:{self.rpc_port}"

[meta]
  dir = "{d / 'meta'}"
  logging-enabled = false

[data]
  dir = "{d / 'data'}"
  wal-dir = "{d / 'wal'}"
  # fsync every write: a 204 from /write means the points are on disk.
  wal-fsync-delay = "0s"
  query-log-enabled = false
  # Benchmarks create one series per device across thousands of homes.
  max-values-per-tag = 0

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "{HOST}:{self.http_port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""

    def _env(self) -> dict[str, str]:
        # INFLUXDB_* variables override the config file; never let the caller's leak in.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def _command(self) -> list[str]:
        self.config_path.write_text(self._config())
        return [INFLUXD_BIN, "run", "-config", str(self.config_path)]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as resp:
                return resp.status == 204
        except (urllib.error.URLError, OSError):
            return False


NATS_BIN = "nats-server"


class NatsMqtt(_Service):
    """A private NATS server with its MQTT listener (sessions kept in JetStream): an MQTT broker
    that keeps persistent sessions but has no shared subscriptions."""

    name = "nats-server"

    def __init__(self, workdir: Path | str, port: int | None = None, *, start_timeout_s: float = 20.0) -> None:
        super().__init__(workdir, start_timeout_s)
        self.host = HOST
        self.port = port or free_port()
        self.client_port = free_port()
        while self.client_port == self.port:
            self.client_port = free_port()
        self.config_path = self.workdir / "nats.conf"

    def _command(self) -> list[str]:
        self.config_path.write_text(
            f'server_name: "tecwatch-test"\nlisten: "{HOST}:{self.client_port}"\n'
            f'jetstream {{ store_dir: "{self.workdir / "js"}" }}\n'
            f'mqtt {{ listen: "{HOST}:{self.port}" }}\n'
        )
        return [NATS_BIN, "-c", str(self.config_path), "-l", str(self.log_path)]

    def _ready(self) -> bool:
        return _port_open(self.port)
