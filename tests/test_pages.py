"""The web pages in a real headless browser (Debian's chromium through Playwright): each role
signs in and sees what it should, an acknowledgement shows up live in another operator's queue,
the pages work from the keyboard, and text meets WCAG AA contrast."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.db import make_engine
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import ApiSettings

from apisupport import PASSWORD, api_server, notified_responder, seed_cast


@pytest.fixture
def site(tmp_path):
    url = f"sqlite:///{tmp_path}/registry.db"
    engine = make_engine(url)
    upgrade(engine)
    seed_cast(engine)
    alerts = AlertEngine(engine)
    alerts.raise_hits([RuleHit("home-1", "pendant", datetime.now(timezone.utc), "Pendant pressed in the lounge", {},
                               "pendant-1"),
                       RuleHit("home-2", "low_battery", datetime.now(timezone.utc), "Battery low on door-front (9%)", {},
                               "door-front")])
    with api_server(url, tmp_path, api=ApiSettings(stream_poll_s=0.2)) as (base_url, settings):
        yield base_url, alerts, settings
    engine.dispose()


def sign_in(browser: Browser, base_url: str, username: str, path: str = "/login") -> Page:
    page = browser.new_context(base_url=base_url).new_page()
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def test_each_role_sees_its_own_pages(browser, site):
    base_url, _, _ = site
    operator = sign_in(browser, base_url, "operator")
    expect(operator).to_have_url(f"{base_url}/console")
    expect(operator.get_by_role("heading", name="Alert queue")).to_be_visible()
    rows = operator.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Pendant alarm pressed")  # priority 1 first
    operator.get_by_role("link", name="home-1").click()
    expect(operator.get_by_role("heading", name="Home home-1")).to_be_visible()
    expect(operator.get_by_text("Arthur Example")).to_be_visible()
    expect(operator.get_by_role("img", name="Activity per hour, last 24 hours")).to_be_visible()

    family = sign_in(browser, base_url, "family-1")
    expect(family).to_have_url(f"{base_url}/family/1")
    expect(family.get_by_role("heading", name="Arthur Example")).to_be_visible()
    expect(family.get_by_role("status")).to_contain_text("Arthur has an alert open")
    assert "Beryl" not in family.content()
    family.goto("/family/2")  # Beryl has not shared with family-1
    expect(family.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Beryl" not in family.content()
    family.goto("/console")
    expect(family.get_by_role("heading", name="Not available")).to_be_visible()

    stranger = browser.new_context(base_url=base_url).new_page()
    stranger.goto("/console/alerts/1")
    expect(stranger).to_have_url(f"{base_url}/login?next=/console/alerts/1")
    stranger.get_by_label("Username").fill("operator")
    stranger.get_by_label("Password").fill("not the password")
    stranger.get_by_role("button", name="Sign in").click()
    expect(stranger.get_by_role("alert")).to_have_text("Wrong username or password.")


def test_commissioner_sees_aggregates_only(browser, site):
    base_url, _, _ = site
    page = sign_in(browser, base_url, "commissioner")
    expect(page).to_have_url(f"{base_url}/reports")
    # Two homes: every count is withheld, on the page as in the API.
    expect(page.locator(".headline")).to_contain_text("<5 homes have assistive technology")
    chart = page.get_by_role("img", name="Homes with assistive technology at each month end")
    expect(chart).to_be_visible()
    # The chart fills the page's width, drawn at that width (not shrunk into the middle of its box).
    box, main = chart.bounding_box(), page.locator("main").bounding_box()
    assert box["width"] > main["width"] - 40, (box, main)
    assert abs(box["height"] - box["width"] * 200 / 960) < 4, box
    expect(page.get_by_role("heading", name="Time to answer")).to_be_visible()
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    # Codes read as words.
    expect(page.get_by_role("rowheader", name="Resolved by phone").first).to_be_visible()
    expect(page.get_by_role("rowheader", name="Technical fault fixed").first).to_be_visible()
    assert "resolved_by_phone" not in page.locator("main").inner_text()
    page.get_by_label("District").select_option("Norwich")
    page.get_by_label("Priority").select_option("1")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"priority=1"))
    expect(page.locator(".headline").first).to_contain_text("<5 homes have assistive technology")
    expect(page.locator("#answer-headline")).to_contain_text("P1 alarm calls")
    expect(page.locator("#answer-headline")).to_contain_text("of 0 alerts answered within 60 seconds")
    # Printed: the figures without the site's navigation, the filters or the download links.
    page.emulate_media(media="print")
    expect(page.locator("form.filters")).to_be_hidden()
    expect(page.get_by_role("link", name="Download CSV")).to_be_hidden()
    expect(page.get_by_role("heading", name="Time to answer")).to_be_visible()
    page.emulate_media(media="screen")
    html = page.content()
    assert "Arthur" not in html and "Beryl" not in html and "Lane" not in html and "80-84" not in html
    assert "home-1" not in html and "home-2" not in html
    csv = page.request.get(page.get_by_role("link", name="Download CSV").get_attribute("href"))
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")
    assert "district,Norwich,<5" in csv.text().replace("\r", ""), csv.text()
    page.goto("/console")
    expect(page.get_by_role("heading", name="Not available")).to_be_visible()


def test_acknowledging_updates_another_operators_queue_live(browser, site):
    base_url, alerts, _ = site
    mine, theirs = sign_in(browser, base_url, "operator"), sign_in(browser, base_url, "responder", "/login?next=/console")
    for page in (mine, theirs):
        expect(page.locator("#live-state")).to_have_text("Live.")
    pendant = theirs.locator("tr[data-alert-id='1']")
    expect(pendant).to_contain_text("raised")
    mine.get_by_role("button", name="Acknowledge alert 1: Pendant alarm pressed at home-1").click()
    expect(mine.get_by_role("status").filter(has_text="Done")).to_contain_text("Done: acknowledge")
    expect(pendant).to_contain_text("acknowledged", timeout=5000)  # no reload on their side
    expect(pendant).to_contain_text("by operator (operator)")
    # A new alert raised elsewhere appears in both queues, and is announced.
    [new] = alerts.raise_hits([RuleHit("home-2", "fall_detected", datetime.now(timezone.utc), "Fall detected", {}, "fall-1")])
    expect(theirs.locator(f"tr[data-alert-id='{new}']")).to_contain_text("Fall detected", timeout=5000)
    expect(theirs.locator("#announce")).to_contain_text("Fall detected at 1 Beryl Lane, P1")
    mine.goto("/console")  # both priority 1: the older waits first
    expect(mine.locator("table.queue tbody tr").nth(1)).to_contain_text("Fall detected")


def test_resolving_from_the_keyboard(browser, site):
    base_url, _, _ = site
    page = sign_in(browser, base_url, "operator", "/login?next=/console/alerts/1")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("Outcome").focus()
    page.keyboard.press("ArrowDown")  # the first outcome
    page.get_by_label("Outcome").select_option("resolved_by_phone")
    page.get_by_label("Note (optional)").last.fill("spoke to Arthur, pressed by mistake")
    page.get_by_role("button", name="Resolve").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Done: resolve.")).to_be_visible()
    expect(page.locator(".trail")).to_contain_text("resolved by operator (operator): spoke to Arthur")
    expect(page.locator("#alert-facts")).to_contain_text("resolved (resolved_by_phone)")


# WCAG 2.x contrast of every element with its own text, against the first opaque background up the tree.
CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                       if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3); } return [255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === "hidden" || el.closest(".visually-hidden, .skip, svg")) continue;
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(bg(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && +style.fontWeight >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return bad;
}"""


@pytest.mark.parametrize("username, path", [("operator", "/console"), ("operator", "/console/alerts/1"),
                                            ("operator", "/console/homes/home-1"), ("family-1", "/family/1"),
                                            ("commissioner", "/reports"), ("admin", "/admin/access-log"),
                                            (None, "/login"), ("admin", "/enrol"), ("admin", "/enrol?nhs=123"),
                                            ("admin", "/enrol/new"), ("admin", "/enrol/residents/1"),
                                            ("admin", "/enrol/residents/1/edit"),
                                            ("admin", "/enrol/residents/1/setup/escalation"),
                                            ("admin", "/enrol/residents/1/remove"),
                                            ("admin", "/enrol/homes/home-1/install")])
def test_text_contrast_meets_wcag_aa(browser, site, username, path):
    base_url, _, _ = site
    if username:
        page = sign_in(browser, base_url, username, f"/login?next={path}")
    else:
        page = browser.new_context(base_url=base_url).new_page()
        page.goto(path)
    assert page.evaluate(CONTRAST) == []


def test_family_pages_scale_with_larger_text(browser, site):
    base_url, _, _ = site
    page = sign_in(browser, base_url, "family-1")
    normal = page.locator(".status").bounding_box()["height"]
    page.evaluate("document.documentElement.style.fontSize = '200%'")  # a reader's larger text setting
    larger = page.locator(".status").bounding_box()["height"]
    assert larger > 1.6 * normal, (normal, larger)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "no sideways scrolling"


def test_a_notifications_acknowledge_link_in_the_browser(browser, site):
    """A family member taps the link in a text message: no account, one button, a plain answer."""
    from tecwatch.alerts.acklink import make_token

    base_url, alerts, settings = site
    now = datetime.now(timezone.utc)
    jo_id = notified_responder(alerts._engine, 1, "Jo (daughter)", now)
    token = make_token(settings.alerts.ack_link_key, 1, jo_id, now)
    page = browser.new_context(base_url=base_url).new_page()
    page.goto(f"/ack/1?token={token}")
    expect(page.get_by_role("heading", name="Pendant alarm pressed")).to_be_visible()
    page.get_by_role("button", name="Acknowledge: I am dealing with it").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    page.goto(f"/ack/1?token={token}")  # again: it says who has it
    expect(page.get_by_role("status")).to_contain_text("acknowledged by Jo (daughter) (acknowledge link)")
    page.goto(f"/ack/2?token={token}")  # the link is for alert 1 only
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
