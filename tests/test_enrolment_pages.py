"""The coordinators' pages in a real headless browser (Debian's chromium through Playwright), on a
real platform: mosquitto, an ingest worker with the real alert engine, and the API server sharing
its registry (SQLite and PostgreSQL) and readings store. A coordinator enrols a resident through
the wizard from the keyboard, installs a pendant and a motion sensor and sees both test events
arrive live; the pendant's next press reaches the operator's queue with the new resident's
details. Also: problems shown by their fields, an edit that lost a race, search, removal, roles."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from tecwatch.api import access
from tecwatch.db import make_engine
from tecwatch.localservices import Mosquitto
from tecwatch.registry import chains, consent, contacts, devices, residents
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.accessinfo import Sealer
from tecwatch.registry.models import UserRole
from tecwatch.registry.records import HomeAccess
from tecwatch.services import Ingest
from tecwatch.settings import ApiSettings, BrokerSettings, IngestSettings, RegistrySettings, Settings
from tecwatch.store.sqlite import SQLiteStore

from apisupport import PASSWORD, api_server, seed_cast
from pagechecks import no_violations
from support import Publisher, wait_until

COORDINATOR = "cat"  # the TEC team's coordinator in these tests
PEGGY = {"name": "Margaret Ada Lovelace", "preferred_name": "Peggy", "primary_need": "frailty",
         "home": {"address": "1 Elm Row, Norwich", "postcode": "NR3 1AB", "district": "Norwich"}}


@dataclass
class Site:
    base_url: str
    engine: object
    store: SQLiteStore | None
    pub: Publisher | None
    key: str = ""  # the registry's key for access information


def _registry(url: str):
    engine = make_engine(url)
    upgrade(engine)
    seed_cast(engine)
    with Session(engine) as s, s.begin():
        access.create_user(s, COORDINATOR, PASSWORD, UserRole.COORDINATOR)
        contacts.create_responder(s, "setup", {"name": "Monitoring centre", "kind": "operator"},
                                  now=datetime.now(timezone.utc))
    return engine


@pytest.fixture
def platform(tmp_path, registry_url) -> Iterator[Site]:
    """Mosquitto, an ingest worker with the alert engine, and the API, on one registry and store."""
    engine = _registry(registry_url)
    with Mosquitto(tmp_path / "broker") as broker, \
            api_server(registry_url, tmp_path, api=ApiSettings(stream_poll_s=0.2)) as (base_url, _):
        settings = Settings(broker=BrokerSettings(mode="external", host=broker.host, port=broker.port, protocol="5"),
                            registry=RegistrySettings(url=registry_url), data_dir=tmp_path / "ingest",
                            ingest=IngestSettings(client_id=f"ingest-{uuid.uuid4().hex[:6]}", batch_max_wait_s=0.05))
        store = SQLiteStore(tmp_path / "readings.db")  # the API server's store (api_server: data_dir/readings.db)
        ingest = Ingest(settings, store=store)
        ingest.start()
        assert ingest.mqtt.subscribed.wait(10)
        pub = Publisher(broker.host, broker.port)
        try:
            yield Site(base_url, engine, store, pub)
        finally:
            pub.close()
            ingest.stop()
            store.close()
    engine.dispose()


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    """The API alone (no broker), on SQLite: for the pages' forms."""
    url = f"sqlite:///{tmp_path}/registry.db"
    engine = _registry(url)
    with api_server(url, tmp_path) as (base_url, settings):
        yield Site(base_url, engine, None, None, settings.registry.encryption_key.get_secret_value())
    engine.dispose()


def sign_in(browser: Browser, base_url: str, username: str, path: str) -> Page:
    page = browser.new_context(base_url=base_url).new_page()
    page.goto(f"/login?next={path}" if path else "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
    return page


def message(home: str, device: str, channel: str, body: dict, seq: int) -> tuple[str, bytes]:
    """What the home's gateway publishes for one of its devices."""
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return f"tec/v1/{home}/{device}/{channel}", json.dumps(body | {"ts": ts, "seq": seq, "room": "lounge"}).encode()


def enrol_from_the_keyboard(page: Page) -> None:
    """Step 1, with a mistake in the postcode that the page shows by the field."""
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("link", name="Enrol a resident").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Step 1 of 6: Resident and home")).to_be_visible()
    expect(page.get_by_role("navigation", name="Enrolment steps").locator("[aria-current=step]")).to_have_text(
        "Resident and home")
    page.get_by_label("Full name").focus()
    page.keyboard.type(PEGGY["name"])
    page.keyboard.press("Tab")
    expect(page.get_by_label("Preferred name")).to_be_focused()
    page.keyboard.type(PEGGY["preferred_name"])
    page.get_by_label("Date of birth").fill("1941-06-01")
    page.get_by_label("NHS number").fill("943 476 5919")
    page.get_by_label("Lives alone").focus()
    page.keyboard.press("Space")
    page.get_by_label("Primary need").select_option("frailty")
    page.get_by_label("Address").fill(PEGGY["home"]["address"])
    page.get_by_label("Postcode").fill("NR3 XYZ")
    page.get_by_label("District").fill(PEGGY["home"]["district"])
    page.get_by_label("District").press("Enter")

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Postcode: Not a UK postcode")
    postcode = page.get_by_label("Postcode")
    expect(postcode).to_have_attribute("aria-invalid", "true")
    expect(postcode).to_have_accessible_description(re.compile("Error: Not a UK postcode"))
    expect(page.get_by_label("Full name")).to_have_value(PEGGY["name"])  # nothing typed is lost
    expect(page.get_by_label("Lives alone")).to_be_checked()
    page.keyboard.press("Tab")  # the summary's link to the field
    page.keyboard.press("Enter")
    expect(postcode).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(PEGGY["home"]["postcode"])
    page.keyboard.press("Enter")


def add_device(page: Page, kind: str, serial: str, room: str) -> None:
    page.get_by_label("Device type").select_option(kind)
    page.get_by_label("Serial number").fill(serial)
    page.get_by_label("Room").select_option(room)
    page.get_by_role("button", name="Add device").click()
    expect(page.get_by_role("status")).to_have_text("Device added.")


def test_a_coordinator_enrols_and_installs_and_the_next_press_reaches_the_operator(browser, platform):
    base_url = platform.base_url
    page = sign_in(browser, base_url, COORDINATOR, "")
    expect(page).to_have_url(re.compile(r"/enrol$"))  # the TEC team starts at the residents, not the alert queue
    expect(page.get_by_role("heading", name="Residents")).to_be_visible()
    enrol_from_the_keyboard(page)

    expect(page.get_by_role("heading", name="Step 2 of 6: Devices")).to_be_visible()
    page.get_by_label("Device type").select_option("motion")
    page.get_by_label("Serial number").fill("PIR-0001")
    page.get_by_role("button", name="Add device").click()  # no room: the page says so by the field
    room = page.get_by_label("Room")
    expect(room).to_have_accessible_description(re.compile("A motion sensor needs the room it is fitted in"))
    expect(page.locator("#error-summary")).to_be_focused()
    room.select_option("lounge")
    page.get_by_role("button", name="Add device").click()
    expect(page.get_by_role("status")).to_have_text("Device added.")
    add_device(page, "pendant", "PEN-0001", "lounge")
    expect(page.locator("ul.fitted")).to_contain_text("motion-lounge")
    expect(page.locator("ul.fitted")).to_contain_text("pendant-lounge")
    page.get_by_role("link", name="Continue to contacts and responders").press("Enter")

    expect(page.get_by_role("heading", name="Step 3 of 6: Contacts and responders")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Jo Lovelace")
    page.get_by_label("Phone numbers").fill("07700 900123")
    page.get_by_label("Relation").fill("daughter")
    page.get_by_label("Holds a key").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_role("status")).to_have_text("Contact added.")
    page.get_by_label("A service already on the system").select_option(label="Monitoring centre")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator("ol.contacts li")).to_have_text([re.compile("Jo Lovelace \\(daughter\\), holds a key"),
                                                         re.compile("Monitoring centre")])
    page.get_by_role("link", name="Continue to escalation").press("Enter")

    expect(page.get_by_role("heading", name="Step 4 of 6: Escalation")).to_be_visible()
    page.get_by_label("Step 1: who").select_option(label="Jo Lovelace (daughter)")
    page.get_by_label("Step 2: who").select_option(label="Monitoring centre (operator)")
    page.get_by_label("Step 2: minutes to wait").fill("10")
    page.get_by_role("button", name="Save chain").click()
    expect(page.get_by_role("status")).to_have_text("Escalation chain saved.")
    expect(page.get_by_role("main")).to_contain_text("1. Jo Lovelace, then 5 min; 2. Monitoring centre, then 10 min")
    page.get_by_role("link", name="Continue to consent").press("Enter")

    expect(page.get_by_role("heading", name="Step 5 of 6: Consent")).to_be_visible()
    page.get_by_role("button", name="Record consent").click()  # nothing ticked: nothing agreed
    expect(page.get_by_role("group", name="What they may see")).to_have_accessible_description(
        re.compile("Choose at least one"))
    for scope in ("How they are today, in words", "Their alerts", "Device problems"):
        page.get_by_label(scope).check()
    page.get_by_role("button", name="Record consent").click()
    expect(page.get_by_role("main")).to_contain_text("Jo Lovelace may see: status, alerts, devices")
    page.get_by_role("link", name="Continue to check and finish").press("Enter")

    expect(page.get_by_role("heading", name="Step 6 of 6: Check and finish")).to_be_visible()
    page.get_by_role("button", name="Ready to install: open the install checklist").press("Enter")

    expect(page.get_by_role("heading", name="Install checklist: 1 Elm Row, Norwich, NR3 1AB")).to_be_visible()
    home = page.locator("#checklist").get_attribute("data-check").split("/")[3]
    pendant, motion = (page.locator(f"#checklist tr:has(code:text-is('{d}'))") for d in ("pendant-lounge", "motion-lounge"))
    expect(pendant.locator(".state")).to_have_text("Waiting for a test event")
    page.evaluate("window.notReloaded = true")

    # A motion sensor's "no movement" check-in is not its test; movement is.
    platform.pub.publish([message(home, "motion-lounge", "reading", {"type": "motion", "occupancy": False}, 1)])
    wait_until(lambda: platform.store.last_seen([home]), 10, "the check-in stored")
    page.wait_for_timeout(1500)  # a poll or more after it was stored
    expect(motion.locator(".state")).to_have_text("Waiting for a test event")
    platform.pub.publish([message(home, "pendant-lounge", "event", {"type": "pendant", "action": "press"}, 2),
                          message(home, "motion-lounge", "reading", {"type": "motion", "occupancy": True}, 3)])
    for row in (pendant, motion):
        expect(row.locator(".state")).to_have_text(re.compile(r"Received at \d\d:\d\d:\d\d: test passed"), timeout=15000)
    log = page.get_by_role("log", name="Test events received")
    expect(log).to_contain_text("Pendant pressed in the lounge: received at")
    expect(log).to_contain_text("Movement seen in the lounge: received at")
    assert page.evaluate("window.notReloaded") is True, "the checklist updated without a reload"
    with Session(platform.engine) as s:
        tested = {d.device_id: (d.test_result.value, d.tested_by) for d in devices.list_devices(s, home)}
    assert tested == {"pendant-lounge": ("passed", "cat (coordinator)"), "motion-lounge": ("passed", "cat (coordinator)")}
    page.get_by_role("button", name="Finish installation: start monitoring").click()
    expect(page.get_by_role("status")).to_have_text("Installation finished: the home is now monitored.")
    expect(page.locator(".facts")).to_contain_text("monitoring")

    # The monitoring centre had the test press too: it closes it as a test, then the next press comes in.
    operator = sign_in(browser, base_url, "operator", "/console")
    expect(operator.locator("#live-state")).to_have_text("Live.")
    test_alert = operator.locator(f"tr[data-alert-id]:has(a:text-is('{home}'))")
    expect(test_alert).to_contain_text("Pendant pressed in the lounge (pendant-lounge)")
    test_alert.get_by_role("button", name=re.compile("Acknowledge")).click()
    operator.get_by_label("Outcome").select_option("false_alarm")
    operator.get_by_label("Note (optional)").last.fill("install test")
    operator.get_by_role("button", name="Resolve").click()
    operator.goto("/console")
    expect(operator.locator("#live-state")).to_have_text("Live.")
    expect(operator.locator(f"tr[data-alert-id]:has(a:text-is('{home}'))")).to_have_count(0)
    platform.pub.publish([message(home, "pendant-lounge", "event", {"type": "pendant", "action": "press"}, 4)])
    row = operator.locator(f"tr[data-alert-id]:has(a:text-is('{home}'))")
    expect(row).to_contain_text("Pendant alarm pressed", timeout=15000)  # live, no reload
    expect(row).to_contain_text("raised")
    row.get_by_role("link", name=home).click()
    expect(operator.get_by_role("heading", name=f"Home {home}")).to_be_visible()
    expect(operator.locator(".facts")).to_contain_text(PEGGY["home"]["address"])
    expect(operator.get_by_role("main")).to_contain_text(PEGGY["name"])


def _enrolled(engine, data=PEGGY) -> residents.ResidentRecord:
    with Session(engine) as s, s.begin():
        return residents.create_resident(s, "setup", data, now=datetime.now(timezone.utc))


def test_an_edit_that_lost_a_race_shows_the_current_version(browser, site):
    peggy = _enrolled(site.engine)
    path = f"/enrol/residents/{peggy.id}/edit"
    mine, theirs = sign_in(browser, site.base_url, COORDINATOR, path), sign_in(browser, site.base_url, "admin", path)
    theirs.get_by_label("Preferred name").fill("Maggie")
    theirs.get_by_role("button", name="Save changes").click()
    expect(theirs.get_by_role("status")).to_have_text("Changes saved.")

    mine.get_by_label("Phone numbers").fill("01603 123456")
    mine.get_by_label("Phone numbers").press("Enter")
    conflict = mine.locator("#error-summary")
    expect(conflict).to_be_focused()
    expect(conflict.get_by_role("heading")).to_have_text("Someone else changed this record while you were editing it")
    expect(conflict).to_contain_text("Phone numbers: 01603 123456")  # what I tried, not saved
    expect(conflict).to_contain_text("Preferred name: Peggy")
    expect(mine.get_by_label("Preferred name")).to_have_value("Maggie")  # the current version
    expect(mine.get_by_label("Phone numbers")).to_have_value("")
    with Session(site.engine) as s:
        assert residents.get_resident(s, peggy.id).phones == []
    mine.get_by_label("Phone numbers").fill("01603 123456")
    mine.get_by_role("button", name="Save changes").click()  # now against the version shown
    expect(mine.get_by_role("status")).to_have_text("Changes saved.")
    expect(mine.locator(".facts")).to_contain_text("+441603123456")
    expect(mine.get_by_role("heading", level=1)).to_contain_text("known as Maggie")


def test_consent_contact_and_chain_end_from_the_record(browser, site):
    """The record lists who may see, who to call and the home's own chain, each with a button that
    ends it through its service; a page read before someone else changed it is told so."""
    peggy = _enrolled(site.engine)
    now = datetime.now(timezone.utc)
    with Session(site.engine) as s, s.begin():
        jo = contacts.create_responder(s, "setup", {"name": "Jo Lovelace", "kind": "family", "phones": ["07700 900123"]},
                                       now=now)
        contacts.add_contact(s, "setup", peggy.home_id, {"responder_id": jo.id, "relation": "daughter"}, now=now)
        consent.grant_consent(s, "setup", peggy.id, {"responder_id": jo.id, "scope": ["status"], "granted_at": now},
                              now=now)
        chain = chains.create_chain(s, "setup", {"home_id": peggy.home_id, "name": "Family first",
                                                 "steps": [{"responder_id": jo.id, "wait_minutes": 10}]}, now=now)
    page = sign_in(browser, site.base_url, COORDINATOR, f"/enrol/residents/{peggy.id}")
    stale = sign_in(browser, site.base_url, "admin", f"/enrol/residents/{peggy.id}")
    no_violations(page)
    page.get_by_role("button", name="Withdraw consent: Jo Lovelace").click()
    expect(page.get_by_role("status")).to_have_text("Consent withdrawn.")
    expect(page.get_by_role("main")).to_contain_text("Nobody may see their information.")
    page.get_by_role("button", name="No longer a contact: Jo Lovelace").click()
    expect(page.get_by_role("status")).to_have_text("Contact ended: they are no longer called.")
    expect(page.get_by_role("main")).to_contain_text("Nobody yet.")
    with Session(site.engine) as s, s.begin():
        chains.update_chain(s, "elsewhere", chain.id, {"home_id": peggy.home_id, "name": "Family first (nights)",
                                                       "steps": [{"responder_id": jo.id, "wait_minutes": 5}]},
                            version=chain.version, now=now)
    stale.get_by_role("button", name="Retire: Family first").click()  # read before that change
    expect(stale.locator("#error-summary")).to_be_visible()
    page.reload()
    page.get_by_role("button", name="Retire: Family first (nights)").click()
    expect(page.get_by_role("status")).to_have_text("Escalation chain retired: new alerts follow the others.")
    with Session(site.engine) as s:
        assert consent.list_consents(s, peggy.id) == [] and contacts.list_contacts(s, peggy.home_id) == []
        assert chains.list_chains(s, peggy.home_id) == []

    # The key safe, set from the record: written, never shown back; a stale page is refused.
    page.get_by_label("Where the key safe is").fill("Left of the front door, behind the pot")
    page.get_by_label("Key safe code").fill("4712")
    page.get_by_role("button", name="Save access information").click()
    expect(page.get_by_role("status")).to_have_text("Access information saved.")
    assert "4712" not in page.content() and "behind the pot" not in page.content()
    no_violations(page)
    with Session(site.engine) as s:
        row = s.get(HomeAccess, peggy.home_id)
        assert Sealer(site.key).open(row.sealed).key_safe_code == "4712"
    stale.goto(f"/enrol/residents/{peggy.id}/setup/check")  # the wizard's last step has the same form
    page.get_by_label("Key safe code").fill("9001")
    page.get_by_role("button", name="Save access information").click()
    stale.get_by_label("Key safe code").fill("1111")
    stale.get_by_role("button", name="Save access information").click()
    expect(stale.get_by_role("heading", name="Not saved")).to_be_visible()
    with Session(site.engine) as s:
        assert Sealer(site.key).open(s.get(HomeAccess, peggy.home_id).sealed).key_safe_code == "9001"


def test_search_pages_removal_with_reasons_and_who_may_use_the_pages(browser, site):
    now = datetime.now(timezone.utc)
    peggy = _enrolled(site.engine)
    with Session(site.engine) as s, s.begin():
        for n in range(22):
            residents.create_resident(s, "setup", {"name": f"Resident {n:02d}", "home_id": peggy.home_id}, now=now)
        pendant = devices.register_device(s, "setup", {"home_id": peggy.home_id, "type": "pendant", "serial": "PEN-9",
                                                       "installed_at": now - timedelta(days=1), "installed_by": "Sam"},
                                          now=now)
    page = sign_in(browser, site.base_url, COORDINATOR, "/enrol")
    page.get_by_label("Postcode").fill("nr3")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_have_text("Residents 1 to 20 of 23.")
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("status")).to_have_text("Residents 21 to 23 of 23.")
    expect(page.get_by_label("Postcode")).to_have_value("nr3")
    page.get_by_label("Postcode").fill("")
    page.get_by_label("NHS number").fill("943 476 5910")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_label("NHS number")).to_have_accessible_description(re.compile("check digit is wrong"))
    page.get_by_label("NHS number").fill("")
    page.get_by_label("Name").fill("peggy")
    page.get_by_label("Name").press("Enter")
    expect(page.get_by_role("status")).to_have_text("Residents 1 to 1 of 1.")
    page.get_by_role("link", name=PEGGY["name"]).click()

    page.get_by_role("link", name="Remove pendant").click()
    page.get_by_role("button", name="Remove the device").click()  # no reason given
    expect(page.get_by_label("Why it is being removed")).to_have_accessible_description(re.compile("Not one of"))
    page.get_by_label("Why it is being removed").select_option("faulty")
    page.get_by_role("button", name="Remove the device").click()
    expect(page.get_by_role("status")).to_have_text("Device removed.")
    page.get_by_text("Removed devices (1)").click()
    expect(page.get_by_role("main")).to_contain_text(f"{pendant.device_id} (pendant): removed")
    expect(page.get_by_role("main")).to_contain_text("faulty")

    page.get_by_role("link", name="Remove from the service").click()
    page.get_by_label("Why they are leaving the service").select_option("moved_away")
    page.get_by_role("button", name="Remove from the service").click()
    expect(page.get_by_role("status")).to_have_text("Removed from the service.")
    expect(page.locator(".facts")).to_contain_text("removed (moved away")
    expect(page.get_by_role("link", name="Edit details")).to_have_count(0)

    for username in ("operator", "family-1", "commissioner"):
        other = sign_in(browser, site.base_url, username, f"/enrol/residents/{peggy.id}")
        expect(other.get_by_role("heading", name="Not available")).to_be_visible()
        assert PEGGY["name"] not in other.content()
        expect(other.get_by_role("navigation", name="Main").get_by_role("link", name="Residents")).to_have_count(0)
