"""The operator's call screen in a real browser, from the keyboard alone, on a fixed clock (a
summer night: the pages show British Summer Time, not UTC): a new pendant alarm sounds, flashes
the tab title and is announced by name; its waiting timer passes the 60 s and 3 min targets; the
operator opens it, reads the person and who to call, reveals the key safe (access-logged),
logs "called the resident: no answer" then "responder on the way", and resolves it, every step
in the trail with its time. axe-core finds nothing on each page of the console."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.db import make_engine
from tecwatch.registry import contacts, devices, residents
from tecwatch.registry.accessinfo import READ_ACTION, Sealer, set_access_info
from tecwatch.registry.migrate import upgrade
from tecwatch.registry.models import AccessLog, AlertEvent
from tecwatch.settings import ApiSettings

from pagechecks import no_violations
from apisupport import PASSWORD, api_server, seed_cast

T = datetime(2026, 7, 15, 2, 0, tzinfo=timezone.utc)  # a Wednesday, 03:00 in London (BST)
SEED = "test seed"


def enrol_peggy(engine, sealer: Sealer) -> dict[str, int | str]:
    """Peggy at 3 Demo Street with her pendant, two contacts, a mobile responder and a key safe."""
    fitted = T - timedelta(days=200)
    with Session(engine) as s, s.begin():
        peggy = residents.create_resident(s, SEED, {
            "name": "Margaret Ada Lovelace", "preferred_name": "Peggy", "date_of_birth": date(1940, 9, 1),
            "phones": ["01603 496000"], "communication_needs": ["hard_of_hearing"], "risks": ["lives_alone", "pets"],
            "conditions": "COPD; type 2 diabetes", "gp_practice": "Elm Row Surgery", "primary_need": "frailty",
            "status": "monitoring",
            "home": {"home_id": "home-3", "address": "3 Demo Street", "postcode": "NR3 1AB", "district": "Norwich"}},
            now=fitted)
        devices.register_device(s, SEED, {"home_id": "home-3", "device_id": "pendant-1", "type": "pendant",
                                          "room": "bedroom", "serial": "PD-0003", "installed_by": SEED,
                                          "installed_at": fitted}, now=fitted)
        jo = contacts.create_responder(s, SEED, {"name": "Jo Lovelace", "kind": "family", "phones": ["07700 900123"]},
                                       now=fitted)
        mo = contacts.create_responder(s, SEED, {"name": "Mo Patel", "kind": "neighbour", "phones": ["07700 900456"]},
                                       now=fitted)
        contacts.create_responder(s, SEED, {"name": "Night mobile team", "kind": "mobile", "phones": ["01603 000111"]},
                                  now=fitted)
        contacts.add_contact(s, SEED, "home-3", {"responder_id": jo.id, "relation": "daughter", "key_holder": True},
                             now=fitted)
        contacts.add_contact(s, SEED, "home-3", {"responder_id": mo.id, "relation": "neighbour", "availability": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]}, now=fitted)
        set_access_info(s, sealer, SEED, "home-3", {"key_safe_location": "left of the front door",
                                                    "key_safe_code": "4712", "access_notes": "dog in the kitchen"},
                        version=None, now=fitted)
        return {"peggy": peggy.id, "jo": jo.id, "mo": mo.id}


@pytest.fixture
def site(tmp_path):
    url = f"sqlite:///{tmp_path}/registry.db"
    engine = make_engine(url)
    upgrade(engine)
    seed_cast(engine)
    clock = {"now": T}
    with api_server(url, tmp_path, clock=lambda: clock["now"], api=ApiSettings(stream_poll_s=0.2)) as (base_url, settings):
        ids = enrol_peggy(engine, Sealer(settings.registry.encryption_key.get_secret_value()))
        yield base_url, engine, AlertEngine(engine, clock=lambda: clock["now"]), clock, ids
    engine.dispose()


def sign_in(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 1000},
                                  permissions=["notifications"])
    page = context.new_page()
    page.clock.set_fixed_time(T)
    page.goto("/login")
    page.get_by_label("Username").focus()
    page.keyboard.type("operator")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/console")
    return page


def press(page: Page, locator) -> None:
    """Reach a control by focus (as Tab would) and work it with the keyboard."""
    locator.focus()
    expect(locator).to_be_focused()
    page.keyboard.press("Enter")


def test_an_operator_takes_a_pendant_alarm_to_resolution_from_the_keyboard(browser, site):
    base_url, engine, alerts, clock, ids = site
    page = sign_in(browser, base_url)
    expect(page.locator("#live-state")).to_have_text("Live.")
    no_violations(page)
    toggle = page.get_by_role("button", name="Sound for new P1 alarms")
    press(page, toggle)
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("body")).to_have_attribute("data-audio", "running")

    # The alarm arrives (the alert engine's clock is the app's): tone, title, announcement.
    [alert_id] = alerts.raise_hits([RuleHit("home-3", "pendant", T, "Pendant pressed (pendant-1)", {}, "pendant-1")])
    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    expect(row).to_contain_text("Pendant alarm pressed", timeout=5000)
    expect(page.locator("#announce")).to_have_text("Pendant alarm pressed at 3 Demo Street, NR3 1AB, P1.")
    expect(page.locator("body")).to_have_attribute("data-tones", "1")
    expect(page).to_have_title("(1) New alarm - tecwatch")
    expect(page.locator("body")).to_have_attribute("data-notified", "1")  # notifications were allowed
    # The waiting timer, on the browser's clock: words and colour change at 60 s and 3 min.
    timer = row.locator(".timer")
    page.clock.set_fixed_time(T + timedelta(seconds=42))
    expect(timer).to_have_text("0:42")
    expect(timer).not_to_have_class("timer late")
    page.clock.set_fixed_time(T + timedelta(seconds=65))
    expect(timer).to_have_text("1:05 · over 60 s")
    expect(timer).to_have_class("timer late")
    page.clock.set_fixed_time(T + timedelta(seconds=185))
    expect(timer).to_have_text("3:05 · over 3 min")
    expect(timer).to_have_class("timer overdue")
    assert page.evaluate("getComputedStyle(document.querySelector('.timer.overdue')).backgroundColor") == "rgb(164, 22, 26)"
    no_violations(page)  # the queue with an alarm in it, past its target

    # Acknowledge from the queue; the title stops flashing once the operator uses the page.
    clock["now"] = T + timedelta(seconds=20)
    press(page, page.get_by_role("button", name=f"Acknowledge alert {alert_id}: Pendant alarm pressed at home-3"))
    expect(page.get_by_text("Done: acknowledge.")).to_be_visible()
    expect(page).to_have_title(f"Alert {alert_id} · tecwatch")

    # The call screen: the person, who to call, what happened, the script.
    person = page.get_by_role("region", name="The person")
    expect(person.get_by_role("heading", name="Peggy (Margaret Ada Lovelace)")).to_be_visible()
    expect(person).to_contain_text("85")  # born 1 September 1940
    expect(person.get_by_role("link", name="+441603496000")).to_have_attribute("href", "tel:+441603496000")
    expect(person).to_contain_text("hard of hearing")
    expect(person).to_contain_text("COPD; type 2 diabetes")
    expect(person).to_contain_text("lives alone, pets")
    expect(person).to_contain_text("Elm Row Surgery")
    responders = person.locator("table.responders tbody tr")
    expect(responders.nth(0)).to_contain_text("1. Jo Lovelace")
    expect(responders.nth(0)).to_contain_text("key holder")
    expect(responders.nth(0)).to_contain_text("Yes")
    expect(responders.nth(1)).to_contain_text("2. Mo Patel")
    expect(responders.nth(1)).to_contain_text("Not now")  # 03:00: outside Mo's 09:00-17:00
    expect(responders.nth(2)).to_contain_text("Mobile responder: Night mobile team")
    what = page.get_by_role("region", name="What happened")
    expect(what).to_contain_text("pendant (pendant-1) in the bedroom")
    expect(what).to_contain_text("15 Jul 2026 03:00:00 BST")
    expect(what).to_contain_text("Did you press it by mistake?")
    expect(page.get_by_role("table", name="Activity readings per hour (Europe/London)")).to_contain_text("03:00")
    assert "4712" not in page.content()
    no_violations(page)

    # Another P1 during the call is not missed: the sound stays on (after a key press, as
    # browsers require), and the call screen sounds, flashes and names it too.
    expect(page.get_by_role("button", name="Sound for new P1 alarms: on")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Tab")
    expect(page.locator("body")).to_have_attribute("data-audio", "running")
    alerts.raise_hits([RuleHit("home-2", "fall_detected", T, "Fall detected (fall-1)", {}, "fall-1")])
    expect(page.locator("#announce")).to_have_text("Fall detected at 1 Beryl Lane, P1.", timeout=5000)
    expect(page.locator("body")).to_have_attribute("data-tones", "1")
    expect(page).to_have_title("(1) New alarm - tecwatch")

    # The key safe, on request; the read is in the access log.
    press(page, page.get_by_role("button", name="Show access information"))
    expect(page.get_by_role("status").filter(has_text="Key safe code")).to_contain_text("4712")
    no_violations(page)

    # The call log: each click goes into the trail at the app's time.
    clock["now"] = T + timedelta(seconds=40)
    press(page, page.get_by_role("button", name="Called the resident: no answer"))
    expect(page.get_by_text("Done: call logged.")).to_be_visible()
    clock["now"] = T + timedelta(seconds=95)
    press(page, page.get_by_role("button", name="On the way: Jo Lovelace"))
    expect(page.get_by_text("Done: call logged.")).to_be_visible()
    expect(person.locator("table.responders tbody tr").nth(0)).to_contain_text("Assigned")
    no_violations(page)
    # Jo rings to say she is there: the operator marks it for her.
    clock["now"] = T + timedelta(minutes=18)
    press(page, page.get_by_role("button", name="Arrived: Jo Lovelace"))
    expect(page.get_by_text("Done: arrival marked.")).to_be_visible()
    press(page, page.get_by_role("button", name="Arrived: Jo Lovelace"))  # twice is refused, in words
    expect(page.get_by_role("heading", name="Not done")).to_be_visible()
    page.go_back()

    clock["now"] = T + timedelta(minutes=25)
    page.get_by_label("Outcome").focus()
    page.get_by_label("Outcome").select_option("responder_attended")
    page.get_by_label("Note (optional)").last.focus()
    page.keyboard.type("Jo found Peggy on the floor, not hurt")
    press(page, page.get_by_role("button", name="Resolve"))
    expect(page.get_by_text("Done: resolve.")).to_be_visible()
    trail = page.locator(".trail li")
    expect(trail).to_have_text([
        "15 Jul 03:00:00 raised by alert-engine: Pendant pressed (pendant-1)",
        "15 Jul 03:00:20 acknowledged by operator (operator)",
        "15 Jul 03:00:40 call by operator (operator): Called the resident: no answer",
        "15 Jul 03:01:35 call by operator (operator): Called a responder: on the way (Jo Lovelace)",
        "15 Jul 03:18:00 attend by operator (operator): Arrived (Jo Lovelace)",
        "15 Jul 03:25:00 resolved by operator (operator): Jo found Peggy on the floor, not hurt",
    ])
    with Session(engine) as s:
        calls = [e.detail for e in s.scalars(select(AlertEvent).where(AlertEvent.kind == "call").order_by(AlertEvent.id))]
        reads = s.scalars(select(AccessLog).where(AccessLog.action == READ_ACTION)).all()
    assert calls == [{"action": "resident_no_answer", "responder_id": None},
                     {"action": "responder_on_way", "responder_id": ids["jo"]}]
    assert [(r.username, r.home_id) for r in reads] == [("operator", "home-3")]

    # Finding it again: recently resolved, search, the homes, the home's history.
    page.goto("/console/resolved")
    expect(page.locator("table.alert-lines")).to_contain_text(f"#{alert_id} Pendant alarm pressed")
    expect(page.locator("table.alert-lines")).to_contain_text("responder attended")
    no_violations(page)
    page.get_by_label("Find a resident, home, postcode or alert number").focus()
    page.keyboard.type("peggy")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("0 alerts and 1 homes found.")
    expect(page.get_by_role("table", name="Homes")).to_contain_text("Margaret Ada Lovelace")
    no_violations(page)
    page.goto("/console/search?q=nr31")
    expect(page.get_by_role("table", name="Homes")).to_contain_text("home-3")
    page.goto(f"/console/search?q=%23{alert_id}")
    expect(page.get_by_role("table", name="Alerts")).to_contain_text("3 Demo Street")
    page.goto("/console/homes")
    expect(page.locator("tbody tr")).to_have_count(3)
    no_violations(page)
    page.goto("/console/homes/home-3")
    expect(page.get_by_role("table", name="Alerts at this home, the newest first")).to_contain_text("15 Jul 2026 03:00")
    no_violations(page)
