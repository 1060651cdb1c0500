"""The call log over the API (a real HTTP server, SQLite and PostgreSQL): each call goes into the
alert's trail at the app's time, names the responder where it applies, and assigns the alert;
calls on a closed alert, unknown actions and unknown responders are refused; the call screen's
and the finder's services see the same data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from tecwatch.alerts import callscreen, finder
from tecwatch.alerts.calllog import assigned_responders
from tecwatch.alerts.engine import AlertEngine, RuleHit
from tecwatch.alerts.service import get_alert
from tecwatch.db import make_engine
from tecwatch.registry.models import AccessLog, Home, Responder, ResponderKind
from tecwatch.registry.migrate import upgrade
from tecwatch.settings import ConsoleSettings
from tecwatch.store.sqlite import SQLiteStore

from apisupport import api_server, seed_cast, signed_in

T0 = datetime(2026, 3, 29, 0, 58, tzinfo=timezone.utc)  # just before the clocks go forward in London


@pytest.fixture
def site(registry_url, tmp_path):
    engine = make_engine(registry_url)
    upgrade(engine)
    seed_cast(engine)
    with Session(engine) as s, s.begin():
        s.get(Home, "home-1").postcode = "NR3 1AB"
        mo = Responder(name="Mo (neighbour)", kind=ResponderKind.NEIGHBOUR)
        s.add(mo)
        s.flush()
        mo_id = mo.id
    clock = {"now": T0}
    alerts = AlertEngine(engine, clock=lambda: T0)
    [pendant] = alerts.raise_hits([RuleHit("home-1", "pendant", T0, "Pendant pressed (pendant-1)", {}, "pendant-1")])
    with api_server(registry_url, tmp_path, clock=lambda: clock["now"]) as (base_url, _settings), \
            signed_in(base_url, "operator") as client:
        yield client, engine, pendant, mo_id, clock
    engine.dispose()


def test_each_call_goes_into_the_trail_with_its_time(site):
    client, engine, pendant, mo_id, clock = site
    clock["now"] = T0 + timedelta(seconds=40)
    r = client.post(f"/api/alerts/{pendant}/calls", json={"action": "resident_no_answer"})
    assert r.status_code == 200, r.text
    clock["now"] = T0 + timedelta(seconds=95)
    r = client.post(f"/api/alerts/{pendant}/calls", json={"action": "responder_on_way", "responder_id": mo_id})
    assert r.status_code == 200, r.text
    calls = [e for e in r.json()["events"] if e["kind"] == "call"]
    assert [(e["at"][:19], e["actor"], e["detail"], e["note"]) for e in calls] == [
        ("2026-03-29T00:58:40", "operator (operator)", {"action": "resident_no_answer", "responder_id": None},
         "Called the resident: no answer"),
        ("2026-03-29T00:59:35", "operator (operator)", {"action": "responder_on_way", "responder_id": mo_id},
         "Called a responder: on the way (Mo (neighbour))"),
    ]
    assert assigned_responders(get_alert(engine, pendant)) == [mo_id]

    # Refusals: a responder action without the responder, an unknown responder or action.
    for body, status in (({"action": "responder_on_way"}, 422), ({"action": "mobile_sent", "responder_id": 9999}, 422),
                         ({"action": "phoned_a_friend"}, 422)):
        r = client.post(f"/api/alerts/{pendant}/calls", json=body)
        assert r.status_code == status, (body, r.text)
    assert client.post("/api/alerts/9999/calls", json={"action": "called_999"}).status_code == 404

    assert client.post(f"/api/alerts/{pendant}/resolve", json={"outcome": "responder_attended"}).status_code == 200
    late = client.post(f"/api/alerts/{pendant}/calls", json={"action": "left_message"})
    assert late.status_code == 409 and "open alerts" in late.json()["detail"]
    assert assigned_responders(get_alert(engine, pendant)) == [], "a closed alert is assigned to nobody"
    with Session(engine) as s:
        logged = [(a.action, a.outcome) for a in s.query(AccessLog).filter(AccessLog.action == "log call on alert")]
    assert logged.count(("log call on alert", "allowed")) == 2 and ("log call on alert", "denied") in logged


def test_call_screen_and_finder(site, tmp_path):
    _client, engine, pendant, mo_id, _clock = site
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        with Session(engine) as s:
            screen = callscreen.call_screen(s, store, pendant, ConsoleSettings().script("pendant"), now=T0)
            assert screen.address == "1 Arthur Lane" and [r.name for r in screen.residents] == ["Arthur Example"]
            assert screen.device is None, "pendant-1 is not enrolled in the cast"
            assert len(screen.activity) == callscreen.ACTIVITY_HOURS and screen.activity[-1].hour == T0.replace(minute=0)
            assert "press it by mistake" in screen.script.ask
            found = finder.search(s, "arthur")
            assert [h.id for h in found.homes] == ["home-1"] and found.homes[0].open_alerts == 1
            assert [h.id for h in finder.search(s, "nr31").homes] == ["home-1"]
            assert [a.id for a in finder.search(s, f"#{pendant}").alerts] == [pendant]
            assert finder.search(s, "nobody at all").homes == []
            assert [h.id for h in finder.list_homes(s)[0]] == ["home-1", "home-2"]
            assert finder.recently_closed(s) == []
    finally:
        store.close()


def test_call_scripts_and_the_centres_time_zone_are_settings(monkeypatch, tmp_path):
    from pydantic import ValidationError

    from tecwatch.settings import Settings

    monkeypatch.setenv("TECWATCH_CONSOLE__CALL_SCRIPTS", '{"pendant": {"ask": "Ask A", "no_answer": "Then B"}}')
    monkeypatch.setenv("TECWATCH_CONSOLE__TIMEZONE", "Europe/Dublin")
    console = Settings(data_dir=tmp_path).console
    assert (console.script("pendant").ask, console.script("pendant").no_answer) == ("Ask A", "Then B")
    assert "is there a fire" in console.script("smoke").ask, "the rules not named keep their own scripts"
    assert "Say who you are" in console.script("not_up").ask, "a rule without a script gets the default one"
    assert console.timezone == "Europe/Dublin"
    with pytest.raises(ValidationError, match="not a time zone"):
        ConsoleSettings(timezone="Europe/Narnia")
    with pytest.raises(ValidationError, match="no alert rule called 'pendnat'"):
        ConsoleSettings(call_scripts={"pendnat": {"ask": "Ask A", "no_answer": "Then B"}})


def test_the_maps_link_is_a_setting():
    from pydantic import ValidationError

    from tecwatch.alerts.attendance import maps_url

    osm = ConsoleSettings(maps_search_url="https://www.openstreetmap.org/search?query=").maps_search_url
    assert maps_url(osm, "1 Arthur Lane\nNorwich", "NR1 3AB") == (
        "https://www.openstreetmap.org/search?query=1+Arthur+Lane%2C+Norwich%2C+NR1+3AB")
    with pytest.raises(ValidationError):
        ConsoleSettings(maps_search_url="http://maps.example/?q=")  # never a plain-http link to an address
