"""The call quality page in a real headless Chromium: a supervisor (admin) audits an operator's
call from the keyboard alone, the operator then meets the standard of two audits a month, and
axe-core finds no accessibility violations on the list or the audit form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tecwatch.api.callquality import AuditIn, record_audit
from tecwatch.db import make_engine
from tecwatch.registry.callaudits import CallAudit
from tecwatch.registry.migrate import upgrade

from pagechecks import no_violations
from apisupport import PASSWORD, api_server, seed_cast
from test_api_call_quality import OCTOBER, seed


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[str, dict[str, int], Engine]]:
    url = f"sqlite:///{tmp_path}/registry.db"
    engine = make_engine(url)
    upgrade(engine)
    seed_cast(engine)
    ids = seed(engine)
    with Session(engine) as s, s.begin():  # one of the operator's October calls is audited already
        record_audit(s, "admin", AuditIn(alert_id=ids["pendant"], handler="operator", greeting_identity=True,
                                         correct_action=True, trail_complete=True, score=5), OCTOBER)
    with api_server(url, tmp_path) as (base_url, _):
        yield base_url, ids, engine
    engine.dispose()


def tab_to(page: Page, description: str, is_it: str) -> None:
    """Press Tab until the focused element satisfies ``is_it`` (a JS expression on ``el``)."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({is_it}); }})()"):
            return
    raise AssertionError(f"Tab never reached {description}")


def test_a_supervisor_audits_a_call_from_the_keyboard(browser, site):
    base_url, ids, engine = site
    page = browser.new_context(base_url=base_url).new_page()
    page.goto("/login?next=/console/call-quality%3Fmonth%3D2026-10")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Call quality")).to_be_visible()
    operator = page.locator("#audits-per-handler tbody tr", has_text="operator")
    expect(operator).to_contain_text("Not met: 1 more needed")
    expect(page.locator("#handled-calls")).to_contain_text("Audited: score 5 of 5")
    no_violations(page)

    link = f"Audit operator's call on alert {ids['fall']}"
    tab_to(page, link, f"el.textContent.trim() === {link!r}")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Audit operator's call on alert {ids['fall']}")).to_be_visible()
    no_violations(page)
    tab_to(page, "the greeting check", "el.id === 'greeting_identity'")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # correct action: left unticked
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # trail complete
    page.keyboard.press("Tab")
    page.keyboard.type("3")  # the score: "3: acceptable"
    page.keyboard.press("Tab")
    page.keyboard.type("Sent the mobile responder before calling the daughter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text(f"Audit of operator's call on alert {ids['fall']} saved.")
    expect(operator).to_contain_text("Met")
    expect(operator).not_to_contain_text("Not met")
    expect(page.locator("#handled-calls tbody tr", has_text=f"Alert {ids['fall']}")).to_contain_text(
        "Audited: score 3 of 5")
    # What was saved is what was keyed.
    with Session(engine) as s:
        saved = s.scalars(select(CallAudit).where(CallAudit.alert_id == ids["fall"])).one()
    assert (saved.handler, saved.auditor, saved.greeting_identity, saved.correct_action, saved.trail_complete,
            saved.score, saved.note) == ("operator", "admin", True, False, True, 3,
                                         "Sent the mobile responder before calling the daughter")
