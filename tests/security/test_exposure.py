"""Finding 14: family members read the whole alert trail, staff notes included (notes may hold
key-safe codes); `notify.verify` raised TypeError on a non-ASCII signature; no CSP,
frame-ancestors, Referrer-Policy or HSTS; /docs loaded Swagger UI from a CDN (blank offline) and
was open to anyone in production."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from sqlalchemy.orm import Session

from tecwatch.alerts.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tecwatch.demo import _CentreWebhook
from tecwatch.registry.models import ContactRoute, Notification, NotificationStatus, Responder, ResponderKind

from apisupport import PASSWORD
from secsupport import T0, Clock, serve

KEY_SAFE = "key safe code 4721"


def _client(base_url: str, username: str) -> httpx.Client:
    token = httpx.post(f"{base_url}/api/auth/token", data={"username": username, "password": PASSWORD},
                       timeout=30).json()["access_token"]
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_families_get_the_events_not_the_staff_notes(world, tmp_path):
    with serve(str(world.engine.url.render_as_string(hide_password=False)), tmp_path, clock=Clock()) as (base_url, _):
        with _client(base_url, "operator") as operator, _client(base_url, "family-1") as family:
            path = f"/api/alerts/{world.alert_id}"
            assert operator.post(f"{path}/notes", json={"text": f"Arthur's {KEY_SAFE}"}).status_code == 200
            assert operator.post(f"{path}/acknowledge", json={"note": f"going round, {KEY_SAFE}"}).status_code == 200
            _failed_notification(world, "webhook http://127.0.0.1:9/centre?apikey=CENTRE-KEY-88: HTTP 500")
            staff_view = operator.get(path).json()
            assert KEY_SAFE in json.dumps(staff_view) and "CENTRE-KEY-88" in staff_view["last_notification_error"]
            seen = family.get(path)
            assert seen.status_code == 200
            assert "4721" not in seen.text, "a family member read a staff note"
            assert "CENTRE-KEY-88" not in seen.text
            assert [e["kind"] for e in seen.json()["events"]] == ["raised", "acknowledged"]
            assert seen.json()["acknowledged_by"] == "operator (operator)"
            listed = family.get("/api/alerts", params={"open_only": False})
            assert [a["id"] for a in listed.json()["items"]] == [world.alert_id] and "CENTRE-KEY-88" not in listed.text


def _failed_notification(world, error: str) -> None:
    with Session(world.engine) as s, s.begin():
        r = Responder(name="Monitoring centre", kind=ResponderKind.OPERATOR)
        s.add(r)
        s.flush()
        route = ContactRoute(responder_id=r.id, kind="webhook", target="http://127.0.0.1:9/centre")
        s.add(route)
        s.flush()
        s.add(Notification(alert_id=world.alert_id, step=1, responder_id=r.id, route_id=route.id,
                           status=NotificationStatus.FAILED, attempts=8, next_attempt_at=T0, created_at=T0,
                           last_error=error))


def _raw_post(url: str, headers: list[tuple[str, bytes]], body: bytes) -> bytes:
    """A request as bytes on the wire: a header value may be any byte a sender likes."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    lines = [b"POST /alerts HTTP/1.1", f"Host: {host}:{port}".encode(), b"Content-Type: application/json",
             f"Content-Length: {len(body)}".encode(), b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers]
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    return answer


def test_a_non_ascii_signature_is_refused_not_a_crash():
    secret = b"receiver's copy of the webhook secret"
    said: list[str] = []
    centre = _CentreWebhook(secret, said.append)  # the demo's stand-in receiver, verifying with notify.verify
    try:
        body = json.dumps({"alert_id": 1, "priority": 1, "rule": "pendant", "home_id": "home-1", "reason": "x"}).encode()
        ts = f"{time.time():.0f}"  # what a sender stamps; verify checks it against its own clock
        good = sign(secret, ts, body)
        answer = _raw_post(centre.url, [(TIMESTAMP_HEADER, ts.encode()), (SIGNATURE_HEADER, good.encode())], body)
        assert answer.startswith(b"HTTP/1.0 204") or answer.startswith(b"HTTP/1.1 204"), answer[:80]
        for forged in ("sha256=é".encode("latin-1"), good[:-1].encode() + b"\xff", "sha256=Ω".encode()):
            answer = _raw_post(centre.url, [(TIMESTAMP_HEADER, ts.encode()), (SIGNATURE_HEADER, forged)], body)
            assert answer.split(b"\r\n")[0].endswith(b"401 Unauthorized"), answer[:200]
    finally:
        centre.close()
    assert [line for line in said if "signature BAD" in line] and [line for line in said if "signature ok" in line]


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_pages_and_api_send_security_headers(world, tmp_path):
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        for path in ("/login", "/api/me", "/static/tecwatch.css", "/healthz"):
            h = httpx.get(base_url + path, timeout=10).headers
            csp = h["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "default-src 'self'" in csp
            assert h["referrer-policy"] == "same-origin" and h["x-content-type-options"] == "nosniff"
            assert h["x-frame-options"] == "DENY"
            assert "strict-transport-security" not in h, "HSTS is for production, behind TLS"
        ack = httpx.get(f"{base_url}/ack/{world.alert_id}", params={"token": "1.2.3"}, timeout=10)
        assert ack.headers["referrer-policy"] == "no-referrer", "a link's token must not leave as a Referer"


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_the_api_docs_work_offline_and_break_no_policy(world, tmp_path, browser):
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        context = browser.new_context(base_url=base_url)
        elsewhere: list[str] = []

        def offline(route) -> None:
            if route.request.url.startswith(base_url):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        context.route("**/*", offline)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto("/docs")
        page.locator(".swagger-ui .info .title").filter(has_text="tecwatch").wait_for(timeout=15000)
        assert page.locator(".opblock-tag", has_text="alerts").count() == 1
        assert elsewhere == [], f"the docs page fetched from elsewhere: {elsewhere}"
        assert not [p for p in problems if "Content Security Policy" in p], problems
        context.close()


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_in_production_the_docs_are_for_staff_only(world, tmp_path):
    with serve(str(world.engine.url), tmp_path, clock=Clock(), production=True) as (base_url, _):
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
            assert httpx.get(base_url + path, timeout=10).status_code == 401, path
            with _client(base_url, "family-1") as family:
                assert family.get(path).status_code == 403, path
            with _client(base_url, "operator") as operator:
                assert operator.get(path).status_code == 200, path
        assert httpx.get(f"{base_url}/docs/assets/secrets.json", timeout=10).status_code in (401, 404)
