"""Finding 2: acknowledge links. A link signed with the webhook secret (which every webhook
receiver holds), for a responder who does not exist and valid for 50 years, acknowledged a P1
alert and stopped its escalation; the access log printed link tokens."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.orm import Session

from tecwatch.alerts.acklink import make_token
from tecwatch.registry.models import (
    Alert, AlertState, ContactRoute, Notification, NotificationStatus, Responder, ResponderKind,
)

from secsupport import T0, Clock, serve

FIFTY_YEARS = timedelta(days=365 * 50)


def _state(world) -> AlertState:
    with Session(world.engine) as s:
        return s.get(Alert, world.alert_id).state


def _notified(world, name: str) -> int:
    """A responder this alert's escalation notified, as the alert engine records it."""
    with Session(world.engine) as s, s.begin():
        r = Responder(name=name, kind=ResponderKind.FAMILY)
        s.add(r)
        s.flush()
        route = ContactRoute(responder_id=r.id, kind="webhook", target="http://127.0.0.1:9/unused")
        s.add(route)
        s.flush()
        s.add(Notification(alert_id=world.alert_id, step=1, responder_id=r.id, route_id=route.id,
                           status=NotificationStatus.SENT, attempts=1, next_attempt_at=T0, created_at=T0, sent_at=T0))
        return r.id


def _ack(base_url: str, alert_id: int, token: str) -> tuple[int, str]:
    """The button on the link's page, as a browser posts it."""
    r = httpx.post(f"{base_url}/ack/{alert_id}", data={"token": token}, headers={"Origin": base_url}, timeout=10)
    return r.status_code, r.text


def test_a_link_forged_with_the_webhook_secret_acknowledges_nothing(world, tmp_path):
    with serve(world.engine.url.render_as_string(hide_password=False), tmp_path, clock=Clock()) as (base_url, settings):
        webhook_key = settings.alerts.webhook_secret.get_secret_value().encode()  # what receivers hold
        forged = make_token(webhook_key, world.alert_id, 9999, T0, FIFTY_YEARS)
        status, text = _ack(base_url, world.alert_id, forged)
        assert status == 403 and "This link does not work" in text, (status, text[:300])
        assert _state(world) is AlertState.RAISED, "a P1 alert stays raised: its escalation goes on"


def test_a_link_valid_for_fifty_years_is_refused_even_when_properly_signed(world, tmp_path):
    jo = _notified(world, "Jo (daughter)")
    with serve(world.engine.url.render_as_string(hide_password=False), tmp_path, clock=Clock()) as (base_url, settings):
        key = settings.alerts.ack_link_key
        for token in (make_token(key, world.alert_id, jo, T0, FIFTY_YEARS),
                      make_token(key, world.alert_id, jo, T0, timedelta(days=3))):
            assert _ack(base_url, world.alert_id, token)[0] == 403
            r = httpx.get(f"{base_url}/ack/{world.alert_id}", params={"token": token}, timeout=10)
            assert r.status_code == 403
        assert _state(world) is AlertState.RAISED
        status, text = _ack(base_url, world.alert_id, make_token(key, world.alert_id, jo, T0))
        assert status == 200 and "Thank you" in text, "a link as notifications make them still works"
        assert _state(world) is AlertState.ACKNOWLEDGED


def test_a_link_for_someone_not_on_the_alerts_escalation_is_refused(world, tmp_path):
    with Session(world.engine) as s, s.begin():
        stranger = Responder(name="Someone else's relative", kind=ResponderKind.FAMILY)
        s.add(stranger)
        s.flush()
        stranger_id = stranger.id
    with serve(world.engine.url.render_as_string(hide_password=False), tmp_path, clock=Clock()) as (base_url, settings):
        token = make_token(settings.alerts.ack_link_key, world.alert_id, stranger_id, T0)
        assert _ack(base_url, world.alert_id, token)[0] == 403
        api = httpx.post(f"{base_url}/api/alerts/{world.alert_id}/acknowledge-by-link", json={"token": token},
                         params={"token": token}, timeout=10)
        assert api.status_code == 403
        assert _state(world) is AlertState.RAISED


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)
def test_link_tokens_stay_out_of_the_access_log(world, tmp_path):
    jo = _notified(world, "Jo (daughter)")
    access_log = _Lines()
    logger = logging.getLogger("uvicorn.access")
    with serve(world.engine.url.render_as_string(hide_password=False), tmp_path, clock=Clock(),
               log_level="info") as (base_url, settings):
        logger.addHandler(access_log)
        try:
            token = make_token(settings.alerts.ack_link_key, world.alert_id, jo, T0)
            assert httpx.get(f"{base_url}/ack/{world.alert_id}", params={"token": token}, timeout=10).status_code == 200
            assert _ack(base_url, world.alert_id, token)[0] == 200
        finally:
            logger.removeHandler(access_log)
    lines = [line for line in access_log.lines if f"/ack/{world.alert_id}" in line]
    assert len(lines) == 2, access_log.lines
    mac = token.rsplit(".", 1)[1]
    assert not [line for line in lines if mac in line], lines
