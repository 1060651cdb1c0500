"""The command line as a user runs it: the demo, the dead-letter listing, configuration errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def run(args, cwd, timeout=90, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")}
    return subprocess.run([sys.executable, "-m", "tecwatch", *args], cwd=cwd, env=base | (env or {}),
                          capture_output=True, text=True, timeout=timeout)


def test_demo_stores_readings_hands_over_alarms_and_keeps_dead_letters(tmp_path):
    done = run(["demo", "--homes", "2", "--rate", "120", "--duration", "8"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    stored = re.findall(r"^stored \d\d:\d\d:\d\d\.\d{3} home-[12] ", out, flags=re.M)
    assert len(stored) > 300, out[-2000:]
    assert "** ALARM **" in out  # a pendant press, read back from the store
    assert re.search(r"ALERT \d+ raised: pendant at home-", done.stderr)  # ...and a stored alert
    # ...that escalated to the demo monitoring centre over a signed webhook.
    assert re.search(r"^>> monitoring centre notified \(signature ok\): alert \d+ \[P1\] pendant", out, flags=re.M)
    assert "Open alerts (" in out
    assert "Recent dead letters" in out and "missing_ts" in out
    final = re.search(r"Done: received=(\d+) written=(\d+) rejected=(\d+)", out)
    received, written, rejected = map(int, final.groups())
    assert received == written + rejected and rejected >= 1
    assert (tmp_path / "tecwatch-data" / "readings.db").exists()

    listing = run(["dead-letters", "--reason", "missing_ts"], cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"missing_ts={rejected}" in listing.stdout
    assert "payload has no 'ts'" in listing.stdout and "tec/v1/home-" in listing.stdout


def test_a_bad_setting_is_a_clear_error_not_a_traceback(tmp_path):
    done = run(["ingest"], cwd=tmp_path, env={"TECWATCH_BROKER__PORT": "not-a-port"}, timeout=30)
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "broker.port" in done.stderr
    assert "Traceback" not in done.stderr


def test_devices_lists_the_catalogue(tmp_path):
    done = run(["devices"], cwd=tmp_path, timeout=30)
    assert done.returncode == 0
    assert re.search(r"^pendant\s+ALARM", done.stdout, flags=re.M)
    assert "temperature*:float °C" in done.stdout
