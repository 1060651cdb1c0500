"""Finding 9, the gaps: the live stream, `/console/queue`, POST answers carrying an alert and
refused attempts were not logged, and a family member's query for another home was logged as a
read of it. Nothing kept the log append-only. Replayed over a real HTTP server, on SQLite and
PostgreSQL; the append-only check is made at the database itself."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tecwatch.alerts import service
from tecwatch.alerts.acklink import make_token
from tecwatch.api import access
from tecwatch.registry.models import AccessLog, UserRole
from tecwatch.settings import ApiSettings

from apisupport import PASSWORD, notified_responder, signed_in
from secsupport import T0, Clock, EventStream, serve

FAST = ApiSettings(stream_poll_s=0.1)


def _url(world) -> str:
    return world.engine.url.render_as_string(hide_password=False)


def _rows(world, username: str) -> list[AccessLog]:
    with Session(world.engine) as s:
        return list(s.scalars(select(AccessLog).where(AccessLog.username == username).order_by(AccessLog.id)))


def _cookie(base_url: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base_url}/login", data={"username": username, "password": PASSWORD},
                   headers={"Origin": base_url}, timeout=30)
    return {"tecwatch_token": r.cookies["tecwatch_token"]}


def test_a_refused_attempt_is_logged_as_denied_with_what_was_asked_never_as_a_read(world, tmp_path):
    arthur, alert = world.cast.arthur_id, world.alert_id
    with serve(_url(world), tmp_path, clock=Clock()) as (base_url, _), \
            signed_in(base_url, "family-2") as beryls_son, signed_in(base_url, "commissioner") as commissioner:
        # Beryl's son asks for Arthur's data every way there is.
        assert beryls_son.get(f"/api/family/residents/{arthur}/status").status_code == 404
        assert beryls_son.get("/api/alerts", params={"home_id": "home-1"}).json()["items"] == []
        assert beryls_son.get("/api/homes/home-1").status_code == 404
        assert beryls_son.get("/api/homes/home-1/activity").status_code == 404
        assert beryls_son.get(f"/api/alerts/{alert}").status_code == 404
        assert beryls_son.post(f"/api/alerts/{alert}/acknowledge", json={}).status_code == 404
        page = httpx.get(f"{base_url}/family/{arthur}", cookies=_cookie(base_url, "family-2"), timeout=10)
        assert page.status_code == 404 and "Arthur" not in page.text
        assert commissioner.get(f"/api/alerts/{alert}").status_code == 403

    rows = _rows(world, "family-2")
    about_arthur = [r for r in rows if r.home_id == "home-1" or r.resident_id == arthur or r.alert_id == alert]
    assert not [(r.action, r.home_id) for r in about_arthur if r.outcome != "denied"], "logged as a read of Arthur"
    asked = {(r.action, r.home_id, r.resident_id, r.alert_id) for r in about_arthur}
    assert asked == {("read resident status", None, arthur, None), ("list alerts", "home-1", None, None),
                     ("read home", "home-1", None, None), ("read activity", "home-1", None, None),
                     ("read alert", None, None, alert), ("acknowledge alert", None, None, alert),
                     ("page resident status", None, arthur, None)}, asked
    assert all(r.at == T0 for r in rows), "the server's clock decides the log's times"
    [refused] = [r for r in _rows(world, "commissioner") if r.alert_id == alert]
    assert (refused.action, refused.outcome, refused.detail) == (
        "GET /api/alerts/{alert_id}", "denied", "a commissioner account cannot do this")


def test_the_stream_the_queue_and_answers_to_posts_are_logged(world, tmp_path):
    alert = world.alert_id
    with serve(_url(world), tmp_path, clock=Clock(), api=FAST) as (base_url, settings), \
            signed_in(base_url, "operator") as operator, EventStream(operator) as stream:
        assert operator.post(f"/api/alerts/{alert}/notes", json={"text": "rang Arthur"}).status_code == 200
        assert stream.next()[1]["kind"] == "note"
        queue = httpx.get(f"{base_url}/console/queue", cookies=_cookie(base_url, "responder"), timeout=10)
        assert queue.status_code == 200 and "home-1" in queue.text
        jo = notified_responder(world.engine, alert, "Jo (daughter)", T0)
        token = make_token(settings.alerts.ack_link_key, alert, jo, T0)
        acked = httpx.post(f"{base_url}/api/alerts/{alert}/acknowledge-by-link", json={"token": token}, timeout=10)
        assert acked.status_code == 200 and acked.json()["home_id"] == "home-1"
        assert stream.next()[1]["kind"] == "acknowledged"
        resolved = operator.post(f"/api/alerts/{alert}/resolve", json={"outcome": "false_alarm"})
        assert resolved.status_code == 200
        assert stream.next()[1]["kind"] == "resolved"

    operator_rows = [(r.action, r.outcome, r.home_id, r.alert_id) for r in _rows(world, "operator")]
    assert ("open alert stream", "allowed", None, None) in operator_rows
    assert ("add note to alert", "allowed", "home-1", alert) in operator_rows
    assert ("resolve alert", "allowed", "home-1", alert) in operator_rows
    # One row for each event the stream sent about Arthur's home, as it sent it.
    assert [r[3] for r in operator_rows if r[0] == "stream alert"] == [alert, alert, alert]
    assert [r.detail.split(",")[0] for r in _rows(world, "operator") if r.action == "stream alert"] == \
        ["note", "acknowledged", "resolved"]
    [queue_row] = [r for r in _rows(world, "responder") if r.action == "page console queue"]
    assert queue_row.outcome == "allowed" and queue_row.at == T0
    [link_row] = _rows(world, f"responder {jo} (acknowledge link)")
    assert (link_row.role, link_row.action, link_row.home_id, link_row.alert_id, link_row.detail) == (
        None, "acknowledge alert by link", "home-1", alert, "Jo (daughter)")


def test_the_database_refuses_to_change_or_delete_the_log(world):
    with Session(world.engine) as s, s.begin():
        access.log_entry(s, "operator", UserRole.OPERATOR, "read home", home_id="home-1", now=T0)
    with Session(world.engine) as s:
        [row_id] = s.scalars(select(AccessLog.id)).all()

    attacks = [
        text("UPDATE access_log SET username = 'someone else', home_id = NULL"),
        text("DELETE FROM access_log"),
        update(AccessLog).where(AccessLog.id == row_id).values(at=datetime(2020, 1, 1, tzinfo=T0.tzinfo)),
        delete(AccessLog).where(AccessLog.id == row_id),
    ]
    for attack in attacks:
        with pytest.raises(DBAPIError, match="append-only"), world.engine.begin() as conn:
            conn.execute(attack)
    with pytest.raises(DBAPIError, match="append-only"), Session(world.engine) as s, s.begin():
        s.delete(s.get(AccessLog, row_id))

    with Session(world.engine) as s, s.begin():
        row = s.get(AccessLog, row_id)
        assert (row.username, row.home_id, row.at) == ("operator", "home-1", T0), "the row is as it was written"
        access.log_entry(s, "operator", UserRole.OPERATOR, "read home", home_id="home-2", now=T0)  # appending works
    with Session(world.engine) as s:
        assert len(s.scalars(select(AccessLog)).all()) == 2
