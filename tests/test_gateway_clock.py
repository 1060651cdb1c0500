"""The hub's clock for the heartbeat: the offset against a real HTTP server's Date header on
127.0.0.1, checks spaced out, failures logged once, and the kernel's NTP state otherwise."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tecwatch.gateway.clock import MEASUREMENT_MAX_AGE_S, ClockCheck, KernelClock, http_date, kernel_clock


@contextlib.contextmanager
def date_server(skew_s: float) -> Iterator[tuple[str, list[float]]]:
    """A real HTTP server on 127.0.0.1 whose Date header is ``skew_s`` off the real time;
    yields its URL and the times it answered."""
    answered: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def date_time_string(self, timestamp=None):  # noqa: ARG002 - the server's clock is ours to set
            return formatdate(time.time() + skew_s, usegmt=True)

        def do_GET(self):  # noqa: N802 - http.server's naming
            answered.append(time.time())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", answered
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("skew_s", [-3600.0, 600.0, 0.0])
def test_the_offset_comes_from_the_references_date_header(skew_s):
    with date_server(skew_s) as (url, answered):
        check = ClockCheck(url, kernel=lambda: None)
        check.check_if_due()
    assert len(answered) == 1
    # Hub clock minus reference: a reference an hour behind makes the hub an hour ahead.
    assert check.status_values()["clock_offset_s"] == pytest.approx(-skew_s, abs=1.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_checks_are_spaced_out_and_failures_logged_once_and_not_fatal(caplog):
    mono = [1000.0]
    unsynced = KernelClock(synced=False, offset_s=0.0, error_s=16.0)
    synced = KernelClock(synced=True, offset_s=0.5, error_s=0.1)
    kernel = [unsynced]
    with date_server(-120.0) as (url, answered):
        check = ClockCheck(url, interval_s=300, monotonic=lambda: mono[0], kernel=lambda: kernel[0])
        for step in (0, 10, 100, 189):  # 299 s after the first check: not due yet
            mono[0] += step
            check.check_if_due()
        assert len(answered) == 1
        mono[0] += 1
        check.check_if_due()
        assert len(answered) == 2
    assert check.status_values() == {"clock_synced": False, "clock_offset_s": pytest.approx(120.0, abs=1.5)}

    check.url = f"http://127.0.0.1:{free_port()}/healthz"  # the platform's web side goes away
    with caplog.at_level(logging.DEBUG, logger="tecwatch.gateway.clock"):
        for _ in range(3):
            mono[0] += 300
            check.check_if_due()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert len([r for r in caplog.records if "cannot check the hub clock" in r.getMessage()]) == 3
    # The last good measurement stands for a while, then the kernel's view takes over.
    assert check.status_values()["clock_offset_s"] == pytest.approx(120.0, abs=1.5)
    mono[0] += MEASUREMENT_MAX_AGE_S
    assert check.status_values() == {"clock_synced": False}
    kernel[0] = synced
    assert check.status_values() == {"clock_synced": True, "clock_offset_s": 0.5}


def test_without_a_reference_the_kernel_state_is_reported():
    assert ClockCheck(None, kernel=lambda: None).status_values() == {}
    check = ClockCheck(None, kernel=lambda: KernelClock(synced=False, offset_s=3.0, error_s=16.0))
    check.check_if_due()  # nothing to ask
    assert check.status_values() == {"clock_synced": False}


def test_the_kernel_clock_can_be_read_here():
    state = kernel_clock()
    assert state is None or isinstance(state.synced, bool)


def test_http_date_reads_the_header():
    with date_server(-86400.0) as (url, _):
        assert http_date(url, 5.0) == pytest.approx(time.time() - 86400, abs=1.5)
