"""Finding 12: the session cookie's Secure flag depended on the proxy's address (set only when
X-Forwarded-Proto came from 127.0.0.1). Trusted proxies are a setting; in production cookies are
always Secure (and HSTS is sent)."""

from __future__ import annotations

import httpx
import pytest

from tecwatch.settings import ApiSettings

from apisupport import PASSWORD
from secsupport import Clock, serve


@pytest.fixture
def registry_url(tmp_path):
    return f"sqlite:///{tmp_path}/registry.db"


def _session_cookie(base_url: str, **headers: str) -> str:
    r = httpx.post(f"{base_url}/login", data={"username": "operator", "password": PASSWORD},
                   headers={"Origin": base_url} | headers, timeout=30)
    assert r.status_code == 303, r.text
    [cookie] = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("tecwatch_token=")]
    return cookie.lower()


def test_forwarded_headers_count_only_from_configured_proxies(world, tmp_path):
    https = {"X-Forwarded-Proto": "https"}
    with serve(str(world.engine.url), tmp_path, clock=Clock(), api=ApiSettings(login_address_factor=1)) as (base_url, _):
        # Nobody is a trusted proxy: a client on this host saying "https" changes nothing...
        cookie = _session_cookie(base_url, **https)
        assert "; secure" not in cookie and "httponly" in cookie and "samesite=strict" in cookie
        # ...nor does naming itself another address each time: the address counted is the real one.
        statuses = [httpx.post(f"{base_url}/api/auth/token", data={"username": f"user-{i}", "password": "wrong one"},
                               headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=30).status_code for i in range(5)]
        assert statuses[:3] == [401, 401, 401] and statuses[4] == 429, statuses
    with serve(str(world.engine.url), tmp_path, clock=Clock(),
               api=ApiSettings(trusted_proxies=["127.0.0.1/32"])) as (base_url, _):
        behind_tls = https | {"Origin": base_url.replace("http://", "https://")}
        assert "; secure" in _session_cookie(base_url, **behind_tls), "behind a configured proxy that says https"
        assert "; secure" not in _session_cookie(base_url)


def test_production_cookies_are_always_secure_and_hsts_is_sent(world, tmp_path):
    with serve(str(world.engine.url), tmp_path, clock=Clock(), production=True) as (base_url, _):
        assert "; secure" in _session_cookie(base_url)
        login = httpx.get(f"{base_url}/login", timeout=10)
        assert login.headers["strict-transport-security"].startswith("max-age=31536000")
        out = httpx.post(f"{base_url}/logout", headers={"Origin": base_url}, timeout=10)
        assert "secure" in out.headers["set-cookie"].lower()
