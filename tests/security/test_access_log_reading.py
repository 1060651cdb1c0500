"""Finding 9, reading: there was no way to read the access log. Admins now read it through the API
(`GET /api/admin/access-log`), a page (`/admin/access-log`, in Chromium, from the keyboard) and
the command line (`tecwatch access-log`), filtered by user, resident, home, dates, action and
outcome; nobody else may, and every reading of the log is itself logged."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecwatch.registry.models import AccessLog

from apisupport import PASSWORD, signed_in
from secsupport import Clock, serve
from support import run_tecwatch


def _url(world) -> str:
    return world.engine.url.render_as_string(hide_password=False)


def _two_days_of_reads(base_url: str, clock: Clock, arthur: int) -> None:
    """Day one (25 November): Beryl's son asks for Arthur and is refused. Day two: Arthur's
    daughter reads his status and an operator reads his home and Beryl's."""
    with signed_in(base_url, "family-2") as beryls_son:
        assert beryls_son.get(f"/api/family/residents/{arthur}/status").status_code == 404
        assert beryls_son.get("/api/homes/home-1").status_code == 404
    clock.advance(days=1)
    with signed_in(base_url, "family-1") as arthurs_daughter, signed_in(base_url, "operator") as operator:
        assert arthurs_daughter.get(f"/api/family/residents/{arthur}/status").status_code == 200
        assert operator.get("/api/homes/home-1").status_code == 200
        assert operator.get("/api/homes/home-2").status_code == 200


def _seen(page: dict) -> list[tuple[str, str, str, str | None, int | None]]:
    return [(e["username"], e["action"], e["outcome"], e["home_id"], e["resident_id"]) for e in page["items"]]


def test_admins_read_the_log_through_the_api_with_filters(world, tmp_path):
    arthur, clock = world.cast.arthur_id, Clock()
    with serve(_url(world), tmp_path, clock=clock) as (base_url, _):
        _two_days_of_reads(base_url, clock, arthur)
        with signed_in(base_url, "admin") as admin:

            def log(**params) -> dict:
                r = admin.get("/api/admin/access-log", params=params)
                assert r.status_code == 200, r.text
                return r.json()

            assert _seen(log(user="family-2")) == [("family-2", "read home", "denied", "home-1", None),
                                                    ("family-2", "read resident status", "denied", None, arthur)]
            # Arthur: rows naming him and rows about his home, whoever asked and however it went.
            assert _seen(log(resident=arthur)) == [("operator", "read home", "allowed", "home-1", None),
                                                   ("family-1", "read resident status", "allowed", "home-1", arthur),
                                                   ("family-2", "read home", "denied", "home-1", None),
                                                   ("family-2", "read resident status", "denied", None, arthur)]
            assert [e[0] for e in _seen(log(home="home-2"))] == ["operator"]
            # The admin's own readings so far were on day two as well.
            day_two = log(**{"from": "2026-11-26", "to": "2026-11-27", "action": "read"})
            assert {e[0] for e in _seen(day_two)} == {"family-1", "operator", "admin"}
            assert {e[0] for e in _seen(log(to="2026-11-26T00:00:00+00:00"))} == {"family-2"}
            assert {e[0] for e in _seen(log(outcome="denied"))} == {"family-2"}
            first, second = log(user="family-2", limit=1), log(user="family-2", limit=1, offset=1)
            assert first["total"] == second["total"] == 2
            assert first["items"][0]["id"] > second["items"][0]["id"], "newest first"

            for bad in ({"from": "yesterday"}, {"from": "2026-11-27", "to": "2026-11-26"}, {"outcome": "maybe"},
                        {"resident": "Arthur"}):
                assert admin.get("/api/admin/access-log", params=bad).status_code == 422, bad
            with signed_in(base_url, "operator") as operator, signed_in(base_url, "family-1") as family:
                for nosy in (operator, family):
                    r = nosy.get("/api/admin/access-log", params={"resident": arthur})
                    assert r.status_code == 403 and "Arthur" not in r.text

    with Session(world.engine) as s:
        rows = list(s.scalars(select(AccessLog).order_by(AccessLog.id)))
    reads = [r for r in rows if r.username == "admin" and r.action == "read access log"]
    assert len(reads) == 8 and reads[1].detail == f"resident={arthur}", [r.detail for r in reads]
    assert reads[1].resident_id == arthur, "a search for Arthur's rows shows who searched"
    refused = [(r.username, r.outcome, r.detail) for r in rows if r.action == "GET /api/admin/access-log"]
    assert refused == [(who, "denied", f"a {role} account cannot do this (asked: resident={arthur})")
                       for who, role in (("operator", "operator"), ("family-1", "family"))]


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_admins_read_the_log_from_the_command_line(world, tmp_path):
    arthur, clock = world.cast.arthur_id, Clock()
    with serve(_url(world), tmp_path, clock=clock) as (base_url, _):
        _two_days_of_reads(base_url, clock, arthur)
    env = {"TECWATCH_REGISTRY__URL": _url(world), "TECWATCH_DATA_DIR": str(tmp_path / "cli")}

    out = run_tecwatch(["access-log", "--user", "family-2", "--resident", str(arthur), "--since", "2026-11-25",
                        "--until", "2026-11-26"], tmp_path, env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("2 of 2 entries"), out.stdout
    assert "denied" in lines[0] and "read home" in lines[0] and "home=home-1" in lines[0]
    assert "denied" in lines[1] and "read resident status" in lines[1] and f"resident={arthur}" in lines[1]
    assert lines[1].startswith("2026-11-25T03:00:00Z  family-2")

    day_two = run_tecwatch(["access-log", "--user", "family-1", "--since", "2026-11-26"], tmp_path, env)
    assert day_two.stdout.startswith("2026-11-26T03:00:00Z  family-1") and "1 of 1 entries" in day_two.stdout
    bad = run_tecwatch(["access-log", "--since", "last week"], tmp_path, env)
    assert bad.returncode == 2 and "'--since' must be a date" in bad.stderr

    with Session(world.engine) as s:
        reads = list(s.scalars(select(AccessLog).where(AccessLog.action == "read access log")))
    assert len(reads) == 2 and all(r.username.startswith("command line") and r.role is None for r in reads)
    assert f"user=family-2 resident={arthur} from=2026-11-25" in reads[0].detail


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_admins_read_the_log_on_a_page_from_the_keyboard(world, tmp_path, browser):
    arthur, clock = world.cast.arthur_id, Clock()
    with serve(_url(world), tmp_path, clock=clock) as (base_url, _):
        _two_days_of_reads(base_url, clock, arthur)
        page = browser.new_context(base_url=base_url).new_page()
        page.goto("/login?next=/account")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Access log").click()
        expect(page.get_by_role("heading", name="Access log")).to_be_visible()
        expect(page.get_by_role("status")).to_have_text("Entries 1 to 5 of 5.")

        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.get_by_label("User").focus()
        page.keyboard.type("family-2")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Resident number")).to_be_focused()
        page.keyboard.type(str(arthur))
        page.get_by_label("From").fill("2026-11-25")
        page.get_by_label("Up to (not including)").fill("2026-11-26")
        page.get_by_label("Outcome").select_option("denied")
        page.get_by_label("User").focus()
        page.keyboard.press("Enter")  # submits the filters

        expect(page.get_by_role("status")).to_have_text("Entries 1 to 2 of 2.")
        table = page.get_by_role("table", name="Access log entries, newest first")
        expect(table.get_by_role("row")).to_have_count(3)  # a header and two entries
        expect(table.get_by_role("row").nth(2)).to_contain_text("read resident status")
        expect(table.get_by_role("row").nth(2)).to_contain_text("denied")
        expect(page.get_by_label("User")).to_have_value("family-2")  # the filters stay as set

        page.get_by_label("From").fill("2026-11-27")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("alert")).to_have_text("'from' must be before 'to'.")

        family = browser.new_context(base_url=base_url).new_page()
        family.goto("/login?next=/admin/access-log")
        family.get_by_label("Username").fill("family-1")
        family.get_by_label("Password").fill(PASSWORD)
        family.get_by_role("button", name="Sign in").click()
        expect(family.get_by_role("heading", name="Not available")).to_be_visible()
        assert "family-2" not in family.content()

    with Session(world.engine) as s:
        actions = ["page access log", "GET /admin/access-log"]
        rows = list(s.scalars(select(AccessLog).where(AccessLog.action.in_(actions)).order_by(AccessLog.id)))
    assert [(r.username, r.outcome) for r in rows] == [("admin", "allowed"), ("admin", "allowed"),
                                                       ("family-1", "denied")]
    assert f"user=family-2 resident={arthur}" in rows[1].detail and "outcome=denied" in rows[1].detail
