"""How far the hub's clock is off, for the heartbeat (``clock_offset_s``, ``clock_synced``).

Every reading is stamped by the hub's clock, so a hub whose clock is wrong files the home's
readings at the wrong time; the platform raises "hub clock wrong" from these heartbeat fields.
The best reference is the platform itself (ingest checks event times against its clock): with
``clock_check_url`` set, the gateway compares its clock with the ``Date`` header of a request to
it. Otherwise, or while that fails, it reports what the kernel's NTP state says (Linux
``adjtimex``, read-only).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import email.utils
import logging
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any

import httpx

from tecwatch.devices import DEVICE_TYPES

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 300.0  # the clock drifts slowly; a request every five minutes is plenty
TIMEOUT_S = 5.0  # the check runs on the heartbeat thread, which must not stall for long
# An older measurement says little about a clock that may since have been stepped.
MEASUREMENT_MAX_AGE_S = 3600.0
# Worth a line in the hub's own log; the platform alerts on the same threshold.
WARN_OFFSET_S = 300.0
_OFFSET_LIMIT = next(f.maximum for f in DEVICE_TYPES["gateway"].fields if f.name == "clock_offset_s") or 0.0


@dataclass(frozen=True)
class KernelClock:
    synced: bool  # NTP (ntpd, chrony, systemd-timesyncd) has the clock in sync
    offset_s: float  # the offset the kernel is still correcting, signed
    error_s: float  # its estimated error


# Linux <sys/timex.h>; read with modes = 0, which needs no privilege and changes nothing.
_STA_UNSYNC = 0x0040
_STA_NANO = 0x2000
_TIME_ERROR = 5


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int), ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        # The kernel's 11 reserved ints, and room to spare should a libc's layout be larger.
        ("_reserved", ctypes.c_int * 32),
    ]


def kernel_clock() -> KernelClock | None:
    """The kernel's NTP view of the clock, or None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    scale = 1e-9 if tx.status & _STA_NANO else 1e-6
    synced = not tx.status & _STA_UNSYNC and state != _TIME_ERROR
    return KernelClock(synced, tx.offset * scale, tx.esterror * 1e-6)


def _trust(ca_file: Path | None) -> ssl.SSLContext:
    """The system's CAs plus the platform's own (``platform.tls_ca_file``), which may sign its
    web certificate as well as its broker's."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def http_date(url: str, timeout_s: float, ca_file: Path | None = None) -> float:
    """The reference's time (epoch seconds) from the ``Date`` header of a GET to ``url``.

    Any answer carries a Date, so the status does not matter. Raises on failure."""
    with httpx.Client(timeout=timeout_s, verify=_trust(ca_file), follow_redirects=False) as client:
        header = client.get(url).headers.get("date")
    if not header:
        raise ValueError("the answer has no Date header")
    date = email.utils.parsedate_to_datetime(header)
    return (date if date.tzinfo else date.replace(tzinfo=timezone.utc)).timestamp()


class ClockCheck:
    """Measures the hub clock's offset now and then; the wall clock, the monotonic clock, the
    HTTP call and the kernel query are parameters so that tests can stand in for them."""

    def __init__(
        self,
        url: str | None,
        *,
        ca_file: Path | None = None,
        interval_s: float = CHECK_INTERVAL_S,
        timeout_s: float = TIMEOUT_S,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, float, Path | None], float] = http_date,
        kernel: Callable[[], KernelClock | None] = kernel_clock,
    ):
        self.url = url
        self._ca_file = ca_file
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._wall = wall
        self._monotonic = monotonic
        self._fetch = fetch
        self._kernel = kernel
        self._checked_at: float | None = None  # monotonic, of the last attempt
        self._measured: tuple[float, float] | None = None  # (offset, monotonic when measured)
        self._failing = False
        self._warned_offset = False

    def check_if_due(self) -> None:
        """Ask the reference, if there is one and the last attempt is old enough; never raises."""
        if self.url is None:
            return
        now = self._monotonic()
        if self._checked_at is not None and now - self._checked_at < self._interval_s:
            return
        self._checked_at = now
        try:
            local = self._wall()
            reference = self._fetch(self.url, self._timeout_s, self._ca_file)
        except Exception as err:  # any failure: keep going on the kernel's view
            log.log(logging.DEBUG if self._failing else logging.WARNING,
                    "cannot check the hub clock against %s (%s); trying every %.0f s", self.url, err, self._interval_s)
            self._failing = True
            return
        rtt = self._monotonic() - now
        # The answer was made about half way through the round trip, and a Date header has
        # whole seconds (truncated), so on average it is half a second behind: accurate to a
        # second or so, plenty against a five-minute threshold.
        offset = (local + rtt / 2) - (reference + 0.5)
        if self._failing:
            log.info("hub clock check against %s works again", self.url)
        self._failing = False
        self._measured = (offset, self._monotonic())
        big = abs(offset) > WARN_OFFSET_S
        if big and not self._warned_offset:
            log.warning("the hub clock is %.0f s %s the platform's; readings are stamped with it",
                        abs(offset), "ahead of" if offset > 0 else "behind")
        self._warned_offset = big

    def status_values(self) -> dict[str, Any]:
        """``clock_offset_s`` and ``clock_synced``, each when known; no network."""
        values: dict[str, Any] = {}
        try:
            kernel = self._kernel()
        except Exception:
            kernel = None
        if kernel is not None:
            values["clock_synced"] = kernel.synced
        if self._measured is not None and self._monotonic() - self._measured[1] <= MEASUREMENT_MAX_AGE_S:
            values["clock_offset_s"] = round(max(-_OFFSET_LIMIT, min(_OFFSET_LIMIT, self._measured[0])), 3)
        elif kernel is not None and kernel.synced:
            values["clock_offset_s"] = round(kernel.offset_s, 6)
        return values
