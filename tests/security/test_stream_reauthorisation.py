"""Finding 8: the live stream checked authorisation once, at connect. After a family member's
consent was withdrawn, or an operator's account disabled (or their session signed out, or their
API key revoked), the open stream still delivered the next change. Now it is checked again
before events are sent: the next change is not delivered, the stream ends saying why, and the
access log records the refusal."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.registry.models import AccessLog, FamilyConsent, User
from tecwatch.settings import ApiSettings

from apisupport import PASSWORD, signed_in
from secsupport import T0, Clock, EventStream, serve

FAST = ApiSettings(stream_poll_s=0.1)


def _url(world) -> str:
    return world.engine.url.render_as_string(hide_password=False)


def _alert_ids(events) -> list[int]:
    return [data["alert_id"] for kind, data in events if kind == "alert"]


def _log(world, username: str) -> list[tuple[str, str, str | None, int | None]]:
    with Session(world.engine) as s:
        return [(e.action, e.outcome, e.home_id, e.alert_id)
                for e in s.scalars(select(AccessLog).where(AccessLog.username == username).order_by(AccessLog.id))]


def test_withdrawn_consent_stops_a_family_members_stream_at_once(world, tmp_path):
    with serve(_url(world), tmp_path, clock=Clock(), api=FAST) as (base_url, _), \
            signed_in(base_url, "family-1") as arthurs_daughter, EventStream(arthurs_daughter) as stream:
        service.acknowledge(world.engine, world.alert_id, "operator Sam", at=T0)
        kind, seen = stream.next()
        assert (kind, seen["alert_id"], seen["kind"]) == ("alert", world.alert_id, "acknowledged"), "the stream works"

        with Session(world.engine) as s, s.begin():  # Arthur withdraws his consent
            user = s.scalar(select(User).where(User.username == "family-1"))
            s.execute(update(FamilyConsent).where(FamilyConsent.responder_id == user.responder_id)
                      .values(revoked_at=T0 + timedelta(minutes=5)))
        service.note(world.engine, world.alert_id, "operator Sam", "Arthur is in hospital", at=T0)
        [fall] = AlertEngine(world.engine, clock=lambda: T0).raise_hits(
            [RuleHit("home-1", "fall_detected", T0, "Fall detected in the bathroom", {}, "fall-1")])

        rest = stream.rest()
        assert not _alert_ids(rest), f"changes after the withdrawal were delivered: {rest}"
        assert stream.closed.is_set(), "the stream stayed open after consent was withdrawn"
        assert rest and rest[-1][0] == "end"
    log = _log(world, "family-1")
    assert ("stream alert", "allowed", "home-1", world.alert_id) in log
    assert ("alert stream ended", "denied", "home-1", None) in log
    assert not [e for e in log if e[0] == "stream alert" and e[3] == fall]


def _api_key(base_url: str, admin: httpx.Client) -> str:
    return admin.post("/api/admin/api-keys", json={"username": "operator", "name": "wallboard"}).json()["api_key"]


@pytest.mark.parametrize("how", ["account disabled", "signed out", "password reset", "API key revoked"])
def test_an_ended_session_stops_an_operators_stream(world, tmp_path, how):
    with serve(_url(world), tmp_path, clock=Clock(), api=FAST) as (base_url, _), signed_in(base_url, "admin") as admin:
        if how == "API key revoked":
            operator = httpx.Client(base_url=base_url, headers={"X-API-Key": _api_key(base_url, admin)}, timeout=10)
        else:
            operator = signed_in(base_url, "operator")
        with operator, EventStream(operator) as stream:
            [beryls] = AlertEngine(world.engine, clock=lambda: T0).raise_hits(
                [RuleHit("home-2", "pendant", T0, "Pendant pressed in the hall", {}, "pendant-1")])
            kind, seen = stream.next()
            assert (kind, seen["alert_id"]) == ("alert", beryls), "the stream works"

            if how == "account disabled":
                assert admin.post("/api/admin/users/operator/disable").status_code == 200
            elif how == "signed out":
                assert operator.post("/api/auth/logout").status_code == 204
            elif how == "password reset":
                reset = admin.post("/api/admin/users/operator/password", json={"password": "a brand new passphrase"})
                assert reset.status_code == 204
            else:
                [key] = admin.get("/api/admin/api-keys", params={"username": "operator"}).json()
                assert admin.post(f"/api/admin/api-keys/{key['id']}/revoke").status_code == 200
            service.acknowledge(world.engine, beryls, "responder Jo", at=T0)

            rest = stream.rest()
            assert not _alert_ids(rest), f"a change after the session ended was delivered ({how}): {rest}"
            assert stream.closed.is_set(), f"the stream stayed open ({how})"
            assert rest and rest[-1][0] == "end"
    log = _log(world, "operator")
    assert [e for e in log if e[:2] == ("alert stream ended", "denied")], log
    assert [e[3] for e in log if e[0] == "stream alert"] == [beryls], "only the change before the end was sent"


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_the_console_says_live_updates_stopped(world, tmp_path, browser):
    with serve(_url(world), tmp_path, clock=Clock(), api=FAST) as (base_url, _), signed_in(base_url, "admin") as admin:
        page = browser.new_context(base_url=base_url).new_page()
        page.goto("/login?next=/console")
        page.get_by_label("Username").fill("operator")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#live-state")).to_have_text("Live.")
        admin.post("/api/admin/users/operator/disable")
        [new] = AlertEngine(world.engine, clock=lambda: T0).raise_hits(
            [RuleHit("home-2", "smoke", T0, "Smoke alarm in the kitchen", {}, "smoke-1")])
        expect(page.locator("#live-state")).to_contain_text("Live updates stopped", timeout=10_000)
        expect(page.locator(f"tr[data-alert-id='{new}']")).to_have_count(0)
        expect(page.locator("#announce")).not_to_contain_text(f"Alert {new}")
