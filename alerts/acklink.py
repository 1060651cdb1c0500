"""Acknowledge links: a responder told about an alert can acknowledge it from the message,
without an account. The link names the alert and the responder, expires, and is signed with a
key of its own (webhook receivers hold the webhook secret, so it must not sign links)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta


VALID_FOR = timedelta(hours=24)
# Clocks of the process that made the link and the one checking it may differ this much.
CLOCK_SKEW = timedelta(minutes=5)


class BadLink(ValueError):
    """Tampered, for another alert, or expired."""


def _mac(secret: bytes, alert_id: int, responder_id: int, expires: int) -> str:
    msg = f"ack:{alert_id}:{responder_id}:{expires}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


def make_token(secret: bytes, alert_id: int, responder_id: int, now: datetime,
               valid_for: timedelta = VALID_FOR) -> str:
    expires = int((now + valid_for).timestamp())
    return f"{responder_id}.{expires}.{_mac(secret, alert_id, responder_id, expires)}"


def check_token(secret: bytes, alert_id: int, token: str, now: datetime, valid_for: timedelta = VALID_FOR) -> int:
    """The responder the link was made for; raises BadLink otherwise. A link that claims to run
    for longer than links are made for is refused, whoever signed it: the cap holds even if the
    key leaks. Whether the responder belongs to the alert is the caller's check (it needs the
    registry)."""
    try:
        responder, expires, mac = token.split(".")
        responder_id, expiry = int(responder), int(expires)
    except ValueError:
        raise BadLink("not an acknowledge link") from None
    if not hmac.compare_digest(mac, _mac(secret, alert_id, responder_id, expiry)):
        raise BadLink("this link is not valid for this alert")
    if now.timestamp() > expiry:
        raise BadLink("this link has expired; acknowledge in the monitoring console instead")
    if expiry > (now + valid_for + CLOCK_SKEW).timestamp():
        raise BadLink("this link is not valid for this alert")
    return responder_id
