"""Responders on a phone, families and the admin pages in a real headless browser (Debian's
chromium through Playwright) on a 390 x 844 viewport: a responder marks "Arrived" from the
keyboard; no page scrolls sideways; axe-core finds nothing on the pages; an admin links accounts
to people by choosing names."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.devices import Channel, make_reading
from tecwatch.api import access
from tecwatch.db import make_engine
from tecwatch.registry import accessinfo
from tecwatch.registry.accessinfo import Sealer
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import AccessLog, AlertEvent, Device, Home, Responder, ResponderKind, User, UserRole
from tecwatch.registry.vocab import ContactRole
from tecwatch.settings import ApiSettings
from tecwatch.store.sqlite import SQLiteStore

from apisupport import PASSWORD, api_server, seed_cast

PHONE = {"width": 390, "height": 844}
T0 = datetime(2026, 7, 1, 2, 0, tzinfo=timezone.utc)  # 03:00 in London (summer time)
FITS = "document.documentElement.scrollWidth <= 390"


@pytest.fixture
def site(tmp_path):
    url = f"sqlite:///{tmp_path}/registry.db"
    engine = make_engine(url)
    upgrade(engine)
    seed_cast(engine)
    with Session(engine) as s, s.begin():
        s.get(Home, "home-1").postcode = "NR1 3AB"
        sam = Responder(name="Sam Mobile", kind=ResponderKind.MOBILE)
        s.add(sam)
        s.flush()
        access.create_user(s, "sam", PASSWORD, UserRole.RESPONDER, responder_id=sam.id)
        sam_id = sam.id
    [pendant] = AlertEngine(engine, clock=lambda: T0).raise_hits(
        [RuleHit("home-1", "pendant", T0, "Pendant pressed in the lounge", {}, "pendant-1")])
    with Session(engine) as s, s.begin():  # what the operator's call log writes
        s.add(AlertEvent(alert_id=pendant, at=T0 + timedelta(minutes=1), actor="operator (operator)", kind="call",
                         detail={"action": "mobile_sent", "responder_id": sam_id}))
    clock = [T0 + timedelta(minutes=2)]
    with api_server(url, tmp_path, clock=lambda: clock[0], api=ApiSettings(stream_poll_s=0.2)) as (base_url, settings):
        with Session(engine) as s, s.begin():
            accessinfo.set_access_info(s, Sealer(settings.registry.encryption_key.get_secret_value()), "cat", "home-1",
                                       {"key_safe_location": "left of the door", "key_safe_code": "4711"},
                                       version=None, now=T0)
        yield base_url, engine, clock, pendant
    engine.dispose()


def on_phone(browser: Browser, base_url: str, username: str, path: str = "") -> Page:
    """Signed in from the keyboard on a phone-sized screen."""
    page = browser.new_context(base_url=base_url, viewport=PHONE).new_page()
    page.goto(f"/login?next={path}" if path else "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
    return page


def no_axe_violations(page: Page) -> None:
    result = Axe().run(page)
    assert result.violations_count == 0, result.generate_report()


def test_a_responder_on_a_phone_marks_arrival(browser, site):
    base_url, engine, clock, alert = site
    page = on_phone(browser, base_url, "sam")
    expect(page).to_have_url(f"{base_url}/responder")  # a responder starts at their call-outs
    callout = page.locator(f"#alert-{alert}")
    expect(callout.get_by_role("heading", name="Pendant alarm pressed")).to_be_visible()
    expect(callout).to_contain_text("Arthur Example")
    expect(callout.get_by_role("link", name="Open the address in maps")).to_have_attribute(
        "href", "https://www.google.com/maps/search/?api=1&query=1+Arthur+Lane%2C+NR1+3AB")
    assert page.evaluate(FITS)
    no_axe_violations(page)

    page.get_by_role("button", name="Show access information").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".access-info")).to_contain_text("4711")

    clock[0] = T0 + timedelta(minutes=19)
    arrived = page.get_by_role("button", name="Arrived")
    arrived.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Marked: Arrived.")
    expect(callout.locator(".marks")).to_have_text("Arrived: 03:19")  # London time
    expect(callout.get_by_role("button", name="Left")).to_be_visible()
    expect(callout.get_by_role("button", name="On my way")).to_have_count(0)
    assert page.evaluate(FITS)
    no_axe_violations(page)

    # Sent to another alarm meanwhile: the list shows it without a reload.
    [fall] = AlertEngine(engine, clock=lambda: T0).raise_hits(
        [RuleHit("home-2", "fall_detected", T0 + timedelta(minutes=20), "Fall detected in the hall", {}, "fall-2")])
    with Session(engine) as s, s.begin():
        sam_id = s.scalar(select(User.responder_id).where(User.username == "sam"))
        s.add(AlertEvent(alert_id=fall, at=T0 + timedelta(minutes=21), actor="operator (operator)", kind="call",
                         detail={"action": "responder_on_way", "responder_id": sam_id}))
    expect(page.locator(f"#alert-{fall}").get_by_role("heading", name="Fall detected")).to_be_visible(timeout=5000)
    expect(page.locator("#live-state")).to_have_text("Your call-outs have changed.")
    # An alert the centre did not send Sam to: refused, and logged as denied.
    assert page.request.post("/responder/alerts/999/attend", form={"step": "arrived"},
                             headers={"Origin": base_url}).status == 403

    with Session(engine) as s:
        [event] = s.scalars(select(AlertEvent).where(AlertEvent.kind == "attend")).all()
        reveals = s.scalars(select(AccessLog.username).where(AccessLog.action == "read access information")).all()
    assert (event.detail["step"], event.at, event.actor) == ("arrived", T0 + timedelta(minutes=19), "sam (responder)")
    assert reveals == ["sam"]
    with Session(engine) as s:
        denied = s.execute(select(AccessLog.action, AccessLog.alert_id).where(AccessLog.outcome == "denied")).all()
    assert denied == [("mark arrived at alert", 999)]

    for username, path in (("operator", "/console"), ("operator", f"/console/alerts/{alert}"),
                           ("operator", "/console/homes/home-1"), ("family-1", "/family/1")):
        other = on_phone(browser, base_url, username, path)
        expect(other.locator("h1")).to_be_visible()
        assert other.evaluate(FITS), f"{path} scrolls sideways on a phone"
        no_axe_violations(other)  # a table wider than the phone scrolls in its box, from the keyboard too


def test_the_family_page_on_a_phone(browser, site, tmp_path):
    """Honest about who has the alert, today as a day so far, the week by kind, updating itself,
    and acknowledging from the page."""
    base_url, engine, clock, _ = site
    with Session(engine) as s, s.begin():
        s.add(Device(home_id="home-2", device_id="door-back", type="door", room="hall", role=ContactRole.BACK_DOOR,
                     installed_at=T0 - timedelta(days=30)))
        s.add(Device(home_id="home-2", device_id="pir-kitchen", type="motion", room="kitchen",
                     installed_at=T0 - timedelta(days=30)))
    yesterday = T0 - timedelta(hours=14)  # Tuesday 13:00 in London
    store = SQLiteStore(tmp_path / "readings.db")  # the API server's store
    store.write([make_reading(home_id="home-2", device_id=d, device_type=t, channel=Channel.READING,
                              ts=yesterday + n * timedelta(minutes=9), seq=None, room=None, values=v)
                 for n, (d, t, v) in enumerate([("pir-kitchen", "motion", {"occupancy": True})] * 3
                                               + [("door-back", "door", {"contact": False})])])
    store.close()

    [alert] = AlertEngine(engine, clock=lambda: T0).raise_hits(
        [RuleHit("home-2", "pendant", T0, "Pendant pressed in the hall", {}, "pendant-2")])
    page = on_phone(browser, base_url, "family-2")
    expect(page).to_have_url(f"{base_url}/family/2")
    headline = page.locator("#headline")
    expect(headline).to_have_text("Alert Beryl has an alert open: waiting for the monitoring centre.")
    expect(page.locator("#live-state")).to_have_text("This page updates by itself.")  # the stream is open
    tuesday = page.get_by_role("row", name=re.compile("^Tue 30 Jun"))
    expect(tuesday.get_by_role("cell")).to_have_text(["0", "3", "0", "1", "0", "4"])  # kitchen 3, going out 1
    expect(page.get_by_role("row", name=re.compile("^Wed 1 Jul \\(so far\\)"))).to_be_visible()
    expect(page.get_by_text("It is not steps or minutes")).to_be_visible()
    expect(page.locator("#family-live .facts")).to_contain_text("Last movementTuesday 13:27")  # London time
    assert page.evaluate(FITS)
    no_axe_violations(page)

    # The centre acknowledges: the page says so without a reload.
    service.acknowledge(engine, alert, "operator (operator)", at=T0 + timedelta(minutes=3))
    expect(headline).to_have_text("Alert Beryl has an alert open: the monitoring centre is dealing with it.",
                                  timeout=5000)

    # A new alarm: the family member says they are dealing with it, from the keyboard.
    [fall] = AlertEngine(engine, clock=lambda: T0).raise_hits(
        [RuleHit("home-2", "fall_detected", T0 + timedelta(minutes=4), "Fall detected", {}, "fall-1")])
    expect(headline).to_contain_text("waiting for the monitoring centre", timeout=5000)
    button = page.locator(f"#family-alert-{fall}").get_by_role("button", name="I am dealing with it")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".done")).to_have_text("Thank you: everyone can see that you are dealing with it.")
    expect(page.locator(f"#family-alert-{fall}")).to_contain_text(
        "you said you are dealing with it; waiting for the monitoring centre")
    expect(headline).to_contain_text("waiting for the monitoring centre")
    assert service.get_alert(engine, fall).acknowledged_by == "family-2 (family)"
    no_axe_violations(page)

    # Not their relative's alert: refused, and logged as denied.
    other = page.request.post("/family/1/alerts/1/acknowledge", headers={"Origin": base_url})
    assert other.status == 404
    with Session(engine) as s:
        denied = s.scalars(select(AccessLog.action).where(AccessLog.outcome == "denied",
                                                          AccessLog.username == "family-2")).all()
    assert denied == ["page family acknowledge alert"]


def test_an_admin_links_accounts_to_people_by_name(browser, site):
    """No database ids: a responder's account to their record, a new family member's account with a
    record of its own and a resident who agreed to share; an API key shown once, then revoked."""
    base_url, engine, _, _ = site
    with Session(engine) as s, s.begin():
        s.add(Responder(name="Alex Mobile", kind=ResponderKind.MOBILE))
    page = on_phone(browser, base_url, "admin", "/admin/users")
    expect(page.get_by_role("heading", name="Accounts", exact=True)).to_be_visible()
    assert page.evaluate(FITS)
    no_axe_violations(page)

    add = page.locator("form[action='/admin/users']")
    add.get_by_label("Username").fill("alex")
    add.get_by_label("Role").select_option(label="Responder (visits homes)")
    # A long list narrows as the name is typed; the one left is chosen.
    add.get_by_label("Narrow the list: type a name").fill("alex mob")
    expect(add.locator("#new-responder-filter-count")).to_have_text(re.compile(r"^1 of \d+ match$"))
    assert add.get_by_label("Who they are").evaluate("s => s.selectedOptions[0].textContent") == "Alex Mobile"
    no_axe_violations(page)
    add.get_by_label("Password").fill(PASSWORD)
    add.get_by_role("button", name="Add account").click()
    expect(page.get_by_role("heading", name="Account alex")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("Alex Mobile")

    page.goto("/admin/users")
    add.get_by_label("Username").fill("jo-ex")
    add.get_by_label("Full name").fill("Jo Example")
    add.get_by_label("Role").select_option(label="Family member or neighbour")
    add.get_by_label("Who they are").select_option(label="A new family record, named as the account")
    add.get_by_label("Password").fill(PASSWORD)
    add.get_by_label("Password").press("Enter")
    expect(page.get_by_role("status")).to_have_text("Account added.")
    expect(page.locator(".facts")).to_contain_text("Can seenobody yet")
    page.get_by_label("Resident").select_option(label="Arthur Example (1 Arthur Lane)")
    page.get_by_label("Devices").uncheck()
    page.get_by_role("button", name="Record consent").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Consent recorded: the account can see them.")
    expect(page.locator(".facts")).to_contain_text("Can seeArthur Example")
    assert page.evaluate(FITS)
    no_axe_violations(page)

    page.goto("/admin/users")
    page.get_by_label("Account the key acts as").select_option("jo-ex")
    page.get_by_label("What it is for").fill("care home tablet")
    page.get_by_role("button", name="Make an API key").click()
    key = page.locator("#new-key").text_content()
    assert key.startswith("tw_")
    row = page.locator("tr[data-key-id]", has_text="care home tablet")
    expect(row).to_contain_text("jo-ex")
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_role("status")).to_have_text("API key revoked.")
    expect(page.locator("#new-key")).to_have_count(0)

    with Session(engine) as s:
        alex, jo = (s.scalar(select(User).where(User.username == u)) for u in ("alex", "jo-ex"))
        assert s.get(Responder, alex.responder_id).name == "Alex Mobile"
        record = s.get(Responder, jo.responder_id)
        assert (record.name, record.kind, jo.display_name) == ("Jo Example", ResponderKind.FAMILY, "Jo Example")
    family = on_phone(browser, base_url, "jo-ex")
    expect(family).to_have_url(f"{base_url}/family/1")
    expect(family.get_by_role("heading", name="Arthur Example")).to_be_visible()
    r = family.request.get("/api/alerts", headers={"X-API-Key": key})
    assert r.status == 401, "revoked"
