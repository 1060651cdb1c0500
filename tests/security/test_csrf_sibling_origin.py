"""Finding 4: cross-site request forgery from a sibling origin. SameSite=Strict was the only
defence, and another port on 127.0.0.1 is the same site: a page there resolved a P1 alert as a
false alarm with the operator's cookie."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from tecwatch.registry.models import Alert, AlertState

from apisupport import PASSWORD
from secsupport import Clock, serve


@pytest.fixture
def registry_url(tmp_path):
    return f"sqlite:///{tmp_path}/registry.db"


class AttackerSite:
    """A page on another port of 127.0.0.1 that posts a form to the API as soon as it loads."""

    def __init__(self, target: str, fields: dict[str, str]):
        inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
        page = (f'<!doctype html><title>Win a prize</title><form id="f" method="post" action="{target}">{inputs}</form>'
                '<script>document.getElementById("f").submit()</script>').encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *_args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _state(world) -> AlertState:
    with Session(world.engine) as s:
        return s.get(Alert, world.alert_id).state


def test_a_page_on_a_sibling_port_cannot_resolve_an_alert_with_the_operators_cookie(world, tmp_path, browser):
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        attacker = AttackerSite(f"{base_url}/console/alerts/{world.alert_id}/resolve",
                                {"outcome": "false_alarm", "note": "nothing to see"})
        context = browser.new_context(base_url=base_url)
        try:
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Username").fill("operator")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{base_url}/console")
            evil = context.new_page()
            with evil.expect_navigation(url=f"{base_url}/**"):
                evil.goto(attacker.url)  # the form goes off on load, with the operator's cookie
            assert "Win a prize" not in evil.title()
            assert _state(world) is AlertState.RAISED, "a page on another origin resolved the alert"
            # The operator's own form on our page still works.
            page.goto(f"/console/alerts/{world.alert_id}")
            page.get_by_label("Outcome").select_option("false_alarm")
            page.get_by_role("button", name="Resolve").click()
            expect(page.get_by_text("Done: resolve.")).to_be_visible()
            assert _state(world) is AlertState.RESOLVED
        finally:
            context.close()
            attacker.close()


def test_state_changing_requests_with_the_cookie_must_come_from_our_origin(world, tmp_path):
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        sibling = base_url.rsplit(":", 1)[0] + ":1"
        signed_in = httpx.post(f"{base_url}/login", data={"username": "operator", "password": PASSWORD},
                               headers={"Origin": base_url}, timeout=10)
        cookie = signed_in.cookies["tecwatch_token"]
        jar = {"tecwatch_token": cookie}
        url = f"{base_url}/api/alerts/{world.alert_id}/resolve"
        body = {"outcome": "false_alarm"}
        for headers in ({"Origin": sibling}, {"Origin": sibling, "Sec-Fetch-Site": "same-site"},
                        {"Origin": "null"}, {"Referer": f"{sibling}/prize"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": base_url, "Sec-Fetch-Site": "cross-site"}):
            r = httpx.post(url, json=body, cookies=jar, headers=headers, timeout=10)
            assert r.status_code == 403, (headers, r.status_code, r.text)
            assert _state(world) is AlertState.RAISED
        # Reading with the cookie, and our own pages' requests, are fine.
        assert httpx.get(f"{base_url}/api/alerts/{world.alert_id}", cookies=jar, timeout=10).status_code == 200
        ok = httpx.post(url, json=body, cookies=jar, headers={"Origin": base_url, "Sec-Fetch-Site": "same-origin"},
                        timeout=10)
        assert ok.status_code == 200 and _state(world) is AlertState.RESOLVED


def test_bearer_tokens_need_no_origin(world, tmp_path):
    """Another site's page cannot send an Authorization header (it would need our CORS consent),
    so scripts and integrations using tokens are not held to the origin check."""
    with serve(str(world.engine.url), tmp_path, clock=Clock()) as (base_url, _):
        token = httpx.post(f"{base_url}/api/auth/token", data={"username": "operator", "password": PASSWORD},
                           timeout=10).json()["access_token"]
        r = httpx.post(f"{base_url}/api/alerts/{world.alert_id}/acknowledge", json={},
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200
