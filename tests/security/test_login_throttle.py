"""Finding 5: no sign-in throttling. 200 wrong passwords, then the right one worked; 16 bad
sign-ins at once pushed a family member's status read from 89 ms to 2,940 ms."""

from __future__ import annotations

import logging
import statistics
import threading
import time

import httpx
import pytest

from tecwatch.settings import ApiSettings

from apisupport import PASSWORD
from secsupport import Clock, serve

TOKEN = "/api/auth/token"


def _sign_in(base_url: str, username: str, password: str, **headers: str) -> httpx.Response:
    return httpx.post(base_url + TOKEN, data={"username": username, "password": password}, headers=headers, timeout=30)


def test_two_hundred_wrong_passwords_then_the_right_one_is_refused(world, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tecwatch.api.throttle")
    clock = Clock()
    # Two API workers on one registry: what one counts, the other sees.
    with serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path / "a", clock=clock) as (one, _), \
            serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path / "b", clock=clock) as (two, _):
        answers = [_sign_in((one, two)[i % 2], "operator", f"guess {i}").status_code for i in range(200)]
        assert set(answers) <= {401, 429} and answers.count(401) < 10, answers
        right = _sign_in(two, "operator", PASSWORD)
        assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1, right.text
        assert "too many failed sign-ins" in right.json()["detail"]

        # Waiting out each backoff, the guesser gets ten tries, then the account is locked.
        for _ in range(30):
            r = _sign_in(one, "operator", "another guess")
            if r.status_code == 429 and int(r.headers["Retry-After"]) > 300:
                break
            clock.advance(seconds=int(r.headers.get("Retry-After", 0)))
        else:
            pytest.fail("the account was never locked")
        locked_for = int(r.headers["Retry-After"])
        assert 14 * 60 <= locked_for <= 15 * 60
        clock.advance(seconds=locked_for - 5)
        assert _sign_in(two, "operator", PASSWORD).status_code == 429, "still locked"
        clock.advance(seconds=10)
        assert _sign_in(two, "operator", PASSWORD).status_code == 200, "the lock is temporary"
        # Another account was never held up by it.
        assert _sign_in(one, "responder", PASSWORD).status_code == 200
    said = caplog.text
    assert "failed sign-in for account=operator" in said
    assert "sign-in refused for account=operator" in said
    assert "account operator locked for 15 minutes after 10 failed sign-ins" in said


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_one_address_trying_many_accounts_is_throttled_too(world, tmp_path):
    clock = Clock()
    # As behind a reverse proxy on this host, which says who the client is.
    api = ApiSettings(trusted_proxies=["127.0.0.1/32"], login_address_factor=2)
    with serve(str(world.engine.url), tmp_path, clock=clock, api=api) as (base_url, _):
        attacker = {"X-Forwarded-For": "198.51.100.7"}
        statuses = []
        for i in range(30):  # every guess at a different account: no account's own count grows
            r = _sign_in(base_url, f"user-{i}", "password123", **attacker)
            statuses.append(r.status_code)
            clock.advance(seconds=int(r.headers.get("Retry-After", 0)) if r.status_code == 429 and i % 3 else 0)
        assert 429 in statuses and statuses.count(401) <= 20, statuses
        refused = _sign_in(base_url, "operator", PASSWORD, **attacker)
        assert refused.status_code == 429 and "this address" in refused.json()["detail"]
        # Someone else, elsewhere, signs in as usual.
        assert _sign_in(base_url, "operator", PASSWORD, **{"X-Forwarded-For": "203.0.113.20"}).status_code == 200


def _status_times(base_url: str, token: str, resident_id: int, n: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for _ in range(n):
            started = time.perf_counter()
            assert c.get(f"/api/family/residents/{resident_id}/status").status_code == 200
            times.append(time.perf_counter() - started)
    return times


@pytest.mark.parametrize("registry_url", ["postgresql"], indirect=True)
def test_a_flood_of_bad_sign_ins_does_not_starve_other_requests(world, tmp_path):
    # Each bad sign-in comes from its own address and account, so throttling alone cannot stop
    # them: what is measured is the bound on password checks at once.
    api = ApiSettings(trusted_proxies=["127.0.0.1/32"])
    with serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path, api=api) as (base_url, _):
        token = _sign_in(base_url, "family-1", PASSWORD).json()["access_token"]
        _status_times(base_url, token, world.cast.arthur_id, 5)  # warm up
        quiet = statistics.median(_status_times(base_url, token, world.cast.arthur_id, 20))
        stop = threading.Event()
        answers: list[int] = []

        def flood(n: int) -> None:
            with httpx.Client(base_url=base_url, timeout=60) as c:
                i = 0
                while not stop.is_set():
                    i += 1
                    r = c.post(TOKEN, data={"username": f"nobody-{n}-{i}", "password": "wrong password"},
                               headers={"X-Forwarded-For": f"192.0.2.{n}"})
                    answers.append(r.status_code)

        threads = [threading.Thread(target=flood, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)  # the flood is under way
            busy = statistics.median(_status_times(base_url, token, world.cast.arthur_id, 20))
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert answers and set(answers) <= {401, 429, 503}, set(answers)
        assert busy < max(4 * quiet, quiet + 0.25), f"status p50 {quiet * 1000:.0f} ms quiet, {busy * 1000:.0f} ms flooded"
