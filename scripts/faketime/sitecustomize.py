"""Loaded by every Python process of scripts/timecheck.sh (on PYTHONPATH there only).

libfaketime 0.9.10 (Debian 12) fails Python's time.sleep with EINVAL when the monotonic clock is
left real (FAKETIME_DONT_FAKE_MONOTONIC=1): Python 3.11 sleeps with clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME), and libfaketime shifts that deadline by the fake offset. select() with a timeout
is not shifted, so sleep on it instead, to the same deadline.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    select.select([], [], [], seconds)  # at least once: sleep(0) lets other threads run
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
