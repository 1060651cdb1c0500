"""The command line as a user runs it: the demo, the dead-letter listing, configuration errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, time as dtime
from zoneinfo import ZoneInfo

import httpx

from tecwatch.localservices import free_port

from support import run_tecwatch


def test_demo_runs_everything_and_serves_the_pages(tmp_path):
    """`tecwatch demo` as the README runs it: history, live homes, a pendant press that reaches
    the stand-in monitoring centre, and the API and pages with the demo logins."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {"TECWATCH_API__PORT": str(port)}
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tecwatch", "demo", "--homes", "3", "--duration", "40"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Open http://"):
                break
        url = re.search(r"Open (http://\S+)/ ", lines[-1]).group(1)
        assert url == f"http://127.0.0.1:{port}"
        token = httpx.post(f"{url}/api/auth/token", data={"username": "operator", "password": "tecwatch-demo"}).json()
        operator = {"Authorization": f"Bearer {token['access_token']}"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = httpx.get(f"{url}/api/alerts", headers=operator).json()["items"]
            if any(a["rule"] == "pendant" for a in queue):
                break
            time.sleep(0.5)
        assert [a["home_id"] for a in queue if a["rule"] == "pendant"] == ["home-2"], queue
        if datetime.now(ZoneInfo("Europe/London")).time() > dtime(0, 45):  # the battery ran low at 00:30
            assert [a["home_id"] for a in queue if a["rule"] == "low_battery"] == ["home-3"], queue
        # Months of answered alerts behind the homes, for the commissioners' reports.
        token = httpx.post(f"{url}/api/auth/token", data={"username": "commissioner", "password": "tecwatch-demo"}).json()
        commissioner = {"Authorization": f"Bearer {token['access_token']}"}
        months = httpx.get(f"{url}/api/reports/reach/monthly", headers=commissioner).json()
        assert len(months) >= 10 and months[-1]["homes_active_at_end"] == 3 and months[0]["homes_active_at_end"] == 1, months
        resolved = httpx.get(f"{url}/api/reports/outcomes", headers=commissioner).json()
        assert resolved["resolved"] >= 10, resolved
        assert httpx.get(f"{url}/api/reports/acknowledgement", headers=commissioner).json()["acknowledged"] >= 10
        login = httpx.post(f"{url}/login", data={"username": "family", "password": "tecwatch-demo"})
        assert login.status_code == 303 and login.headers["location"] == "/family"
        page = httpx.get(f"{url}/family/1", cookies=login.cookies)
        assert page.status_code == 200 and "Arthur Fenn" in page.text
        lines += list(proc.stdout)  # to the end: the demo stops by itself
        proc.wait(60)
    finally:
        proc.kill()
        log.close()
    out = "".join(lines)
    assert proc.returncode == 0, (tmp_path / "demo.log").read_text()[-2000:]
    assert "28 days of history for 3 homes" in out
    assert re.search(r"^  family\s+family\s+how Arthur", out, flags=re.M)
    assert re.search(r"^>> monitoring centre notified \(signature ok\): alert \d+ \[P1\] pendant at home-2", out, flags=re.M)
    assert "hub_offline" not in out, "the replayed morning is not an outage"
    assert "Recent dead letters" in out and "missing_ts" in out
    final = re.search(r"Done: received=(\d+) written=(\d+) rejected=(\d+)", out)
    received, written, rejected = map(int, final.groups())
    assert received == written + rejected and rejected == 1 and written > 1000
    assert (tmp_path / "tecwatch-data" / "readings.db").exists()

    listing = run_tecwatch(["dead-letters", "--reason", "missing_ts"], cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "missing_ts=1" in listing.stdout
    assert "payload has no 'ts'" in listing.stdout and "tec/v1/home-2/pir-hall/reading" in listing.stdout


def test_a_bad_setting_is_a_clear_error_not_a_traceback(tmp_path):
    done = run_tecwatch(["ingest"], cwd=tmp_path, env={"TECWATCH_BROKER__PORT": "not-a-port"}, timeout=30)
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "broker.port" in done.stderr
    assert "Traceback" not in done.stderr


def test_devices_lists_the_catalogue(tmp_path):
    done = run_tecwatch(["devices"], cwd=tmp_path, timeout=30)
    assert done.returncode == 0
    assert re.search(r"^pendant\s+ALARM", done.stdout, flags=re.M)
    assert "temperature*:float °C" in done.stdout


def test_add_user_makes_the_first_admin_who_can_sign_in(tmp_path):
    env = {"TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db"}
    added = run_tecwatch(["add-user", "chief", "--role", "admin", "--password-stdin"], cwd=tmp_path, env=env,
                input="a long admin password\n")
    assert added.returncode == 0, added.stderr
    assert "added chief (admin)" in added.stdout
    again = run_tecwatch(["add-user", "chief", "--role", "admin", "--password-stdin"], cwd=tmp_path, env=env,
                input="another long password\n")
    assert again.returncode == 2 and "the username 'chief' is taken" in again.stderr
    short = run_tecwatch(["add-user", "kid", "--role", "operator", "--password-stdin"], cwd=tmp_path, env=env, input="short\n")
    assert short.returncode == 2 and "at least" in short.stderr and "Traceback" not in short.stderr

    from sqlalchemy.orm import Session

    from tecwatch.api.access import authenticate
    from tecwatch.db import make_engine
    from tecwatch.registry.models import UserRole

    with Session(make_engine(env["TECWATCH_REGISTRY__URL"])) as s:
        assert authenticate(s, "chief", "a long admin password").role is UserRole.ADMIN
