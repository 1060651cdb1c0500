"""The command line as a user runs it: the demo, the dead-letter listing, configuration errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, datetime, time as clock_time, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx

from tecwatch.demo import SEED
from tecwatch.localservices import free_port
from tecwatch.simulators.home import make_home
from tecwatch.simulators.routine import DeviceEvent, simulate_day
from tecwatch.simulators.scenarios import Scenario, ScenarioKind

from support import run_tecwatch

DEMO_TZ = ZoneInfo("Europe/London")
LOW_AT = clock_time(0, 30)


def demo_events(homes: int, first: date, until: datetime) -> list[DeviceEvent]:
    """What the demo's live homes publish from local midnight of ``first`` to ``until``: today
    replayed, then on in real time, with a heartbeat a minute and a battery that ran low at 00:30."""
    sim = [make_home(SEED, i) for i in range(1, homes + 1)]
    flat = Scenario(ScenarioKind.LOW_BATTERY, sim[min(2, homes - 1)].home_id, day=1, at=LOW_AT)
    out = []
    for n in range(1, (until.astimezone(DEMO_TZ).date() - first).days + 2):
        for home in sim:
            events, _ = simulate_day(home, n, first + timedelta(days=n - 1), SEED, [flat], 60)
            out += [e for e in events if e.ts <= until]
    return out


def test_demo_runs_everything_and_serves_the_pages(tmp_path, request):
    """`tecwatch demo` as the README runs it: history, live homes, a pendant press that reaches
    the stand-in monitoring centre, and the API and pages with the demo logins."""
    port, broker_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TECWATCH_")} | {
        "TECWATCH_API__PORT": str(port), "TECWATCH_BROKER__PORT": str(broker_port)}
    log = (tmp_path / "demo.log").open("w")
    launched = datetime.now(timezone.utc)
    proc = subprocess.Popen([sys.executable, "-m", "tecwatch", "demo", "--homes", "3",
                             "--duration", f"{request.config.getoption('--demo-seconds'):g}"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Open http://"):
                break
        up = datetime.now(timezone.utc)
        assert lines and lines[-1].startswith("Open http://"), (
            "".join(lines) + (tmp_path / "demo.log").read_text()[-3000:])
        url = re.search(r"Open (http://\S+)/ ", lines[-1]).group(1)
        assert url == f"http://127.0.0.1:{port}"
        try:
            token = httpx.post(f"{url}/api/auth/token", data={"username": "operator", "password": "tecwatch-demo"}).json()
        except httpx.HTTPError as err:  # say what the demo said, not only that the connection failed
            raise AssertionError(f"{err!r}; the demo's log:\n{(tmp_path / 'demo.log').read_text()[-3000:]}") from err
        operator = {"Authorization": f"Bearer {token['access_token']}"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            queue = httpx.get(f"{url}/api/alerts", headers=operator).json()["items"]
            if any(a["rule"] == "pendant" for a in queue):
                break
            time.sleep(0.5)
        asked = datetime.now(timezone.utc)
        assert [a["home_id"] for a in queue if a["rule"] == "pendant"] == ["home-2"], queue
        # Months of answered alerts behind the homes, for the commissioners' reports.
        token = httpx.post(f"{url}/api/auth/token", data={"username": "commissioner", "password": "tecwatch-demo"}).json()
        commissioner = {"Authorization": f"Bearer {token['access_token']}"}
        months = httpx.get(f"{url}/api/reports/reach/monthly", headers=commissioner).json()
        # Three homes are too few to report on: the demo withholds them as production would.
        assert len(months) >= 10 and {m["homes_active_at_end"] for m in months} == {"<5"}, months
        resolved = httpx.get(f"{url}/api/reports/outcomes", headers=commissioner).json()
        assert resolved["resolved"] == "<5", resolved
        assert httpx.get(f"{url}/api/reports/acknowledgement", headers=commissioner).json()["acknowledged"] == "<5"
        login = httpx.post(f"{url}/login", data={"username": "family", "password": "tecwatch-demo"})
        assert login.status_code == 303 and login.headers["location"] == "/family"
        page = httpx.get(f"{url}/family/1", cookies=login.cookies)
        assert page.status_code == 200 and "Arthur Fenn" in page.text
        lines += list(proc.stdout)  # to the end: the demo stops by itself
        proc.wait(60)
    finally:
        proc.kill()
        log.close()
    done = datetime.now(timezone.utc)
    out = "".join(lines)
    assert proc.returncode == 0, (tmp_path / "demo.log").read_text()[-2000:]
    assert "28 days of history for 3 homes" in out
    assert re.search(r"^  family\s+family\s+how Arthur", out, flags=re.M)
    assert re.search(r"^>> monitoring centre notified \(signature ok\): alert \d+ \[P1\] pendant at home-2", out, flags=re.M)
    assert "Recent dead letters" in out and "missing_ts" in out

    # The demo replays today from local midnight (as its clock read it on starting) until it has
    # caught up, then goes on in real time until it stops. Unless the date changed while it
    # started, everything simulated before the launch went through ingest, and nothing after the end.
    today = launched.astimezone(DEMO_TZ).date()
    sure = today == up.astimezone(DEMO_TZ).date()
    everything = demo_events(3, today, done)
    before = [e for e in everything if e.ts <= launched] if sure else []
    final = re.search(r"Done: received=(\d+) written=(\d+) rejected=(\d+)", out)
    received, written, rejected = map(int, final.groups())
    assert received == written + rejected and rejected == 1
    assert len(before) <= written - 1 <= len(everything), (len(before), written, len(everything))  # and the press
    # A battery that ran low before the launch waits in the queue; one not yet low cannot.
    low_before = {e.home_id for e in before if e.values.get("battery_low") is True}
    low_by_then = {e.home_id for e in everything if e.ts <= asked and e.values.get("battery_low") is True}
    low = [a["home_id"] for a in queue if a["rule"] == "low_battery"]
    assert low_before <= set(low) <= low_by_then and len(low) == len(set(low)), (low, low_before, low_by_then)
    if sure and launched.astimezone(DEMO_TZ).time() > LOW_AT:
        assert low_before == {"home-3"}, "the README's battery, low at 00:30"
    assert (tmp_path / "tecwatch-data" / "readings.db").exists()

    listing = run_tecwatch(["dead-letters", "--reason", "missing_ts"], cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "missing_ts=1" in listing.stdout
    assert "payload has no 'ts'" in listing.stdout and "tec/v1/home-2/pir-hall/reading" in listing.stdout

    assert "hub_offline" not in out, "the replayed morning is not an outage"


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


def morning_person_store(tmp_path) -> dict[str, str]:
    """A store with two weeks of one home in Madrid (enrolled so in the registry): moving about
    from 07:00 to 22:00 local time each day, 1-14 January 2025. Returns the settings' variables."""
    from sqlalchemy.orm import Session

    from tecwatch.db import make_engine
    from tecwatch.devices import Channel, make_reading
    from tecwatch.registry.migrate import upgrade
    from tecwatch.registry.models import Home
    from tecwatch.store.sqlite import SQLiteStore

    madrid = ZoneInfo("Europe/Madrid")
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        store.write([make_reading(home_id="home-1", device_id="pir-lounge", device_type="motion",
                                  channel=Channel.READING, ts=datetime(2025, 1, d, 7, tzinfo=madrid) + timedelta(minutes=m),
                                  seq=None, room="lounge", values={"occupancy": True})
                     for d in range(1, 15) for m in range(0, 15 * 60, 5)])
    finally:
        store.close()
    registry = make_engine(f"sqlite:///{tmp_path}/registry.db")
    upgrade(registry)
    with Session(registry) as s, s.begin():
        s.add(Home(id="home-1", timezone="Europe/Madrid", created_at=datetime(2025, 1, 1, tzinfo=timezone.utc)))
    registry.dispose()
    return {"TECWATCH_STORE__SQLITE_PATH": str(tmp_path / "readings.db"),
            "TECWATCH_REGISTRY__URL": f"sqlite:///{tmp_path}/registry.db"}


def test_baseline_prints_the_learned_routine_in_words(tmp_path):
    env = morning_person_store(tmp_path)
    done = run_tecwatch(["baseline", "home-1", "--at", "2025-01-15T12:00+00:00"], cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "home-1: routine learned from 14 days heard"
    # In the home's own zone (the registry's), not the London default: 07:00 in Madrid is 06:00 UTC.
    assert lines[1] == "Times are local to the home (Europe/Madrid)."
    assert lines[2].startswith("Usually up at 07:00, and up by 07:00 on all but the latest mornings")
    assert "Usually active 07:00-22:00" in done.stdout and "Front door at night: 0% of nights" in done.stdout
    early = run_tecwatch(["baseline", "home-1", "--at", "2025-01-05T12:00+00:00"], cwd=tmp_path, env=env, timeout=60)
    assert early.returncode == 0 and "not enough history yet (4 days heard): the usual defaults apply" in early.stdout


def test_backtest_of_an_unknown_home_is_a_clear_error(tmp_path):
    env = morning_person_store(tmp_path)
    done = run_tecwatch(["backtest", "--homes", "no-such-home", "--from", "2025-01-10", "--to", "2025-01-12",
                         "--no-progress"], cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "tecwatch backtest: no readings stored for no-such-home: check the home ids"
    assert done.stdout == "" and "Traceback" not in done.stderr
