"""Sending one notification: through apprise (email, SMS gateways, ntfy...) or as a signed
JSON webhook. Each call either returns (delivered) or raises ``NotifyError`` with why."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Protocol

import apprise
import httpx

SIGNATURE_HEADER = "X-Tecwatch-Signature"
TIMESTAMP_HEADER = "X-Tecwatch-Timestamp"


class NotifyError(Exception):
    """The notification did not go; the reason is kept on the alert and it is retried."""


@dataclass(frozen=True)
class AlertNotice:
    alert_id: int
    home_id: str
    rule: str
    priority: int
    reason: str
    occurred_at: str  # ISO 8601 UTC
    step: int
    responder: str
    device_id: str | None = None
    acknowledge_url: str | None = None  # signed for this responder; see alerts.acklink

    def title(self) -> str:
        return f"[P{self.priority}] {self.rule.replace('_', ' ')} at {self.home_id}"

    def body(self) -> str:
        lines = [f"{self.reason or self.rule} (alert {self.alert_id}, at {self.occurred_at} UTC)."]
        if self.device_id:
            lines.append(f"Device: {self.device_id}.")
        if self.acknowledge_url:
            lines.append(f"Please acknowledge so the alert stops escalating: {self.acknowledge_url}")
        else:
            lines.append("Please acknowledge so the alert stops escalating.")
        return " ".join(lines)


class Sender(Protocol):
    def send(self, kind: str, target: str, notice: AlertNotice) -> None: ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>"; the timestamp stops an old body being replayed."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, max_age_s: float = 300) -> bool:
    """For receivers: is this a fresh body signed with our secret?"""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (TypeError), and a
    # header may hold anything a sender puts there.
    expected = sign(secret, timestamp, body).encode()
    return fresh and hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))


class DefaultSender:
    """apprise for everything it knows; our own signed webhook for ``kind == "webhook"``."""

    def __init__(self, webhook_secret: bytes, timeout_s: float = 10.0):
        self._secret = webhook_secret
        self._http = httpx.Client(timeout=timeout_s)

    def send(self, kind: str, target: str, notice: AlertNotice) -> None:
        if kind == "webhook":
            self._webhook(target, notice)
        elif kind == "apprise":
            self._apprise(target, notice)
        else:
            raise NotifyError(f"unknown contact route kind {kind!r}")

    def _webhook(self, url: str, notice: AlertNotice) -> None:
        body = json.dumps({"event": "alert", **asdict(notice)}).encode()
        ts = f"{time.time():.0f}"
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: ts,
                   SIGNATURE_HEADER: sign(self._secret, ts, body)}
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as err:
            raise NotifyError(f"webhook {url}: {type(err).__name__}: {err}") from err
        if response.status_code >= 300:
            raise NotifyError(f"webhook {url}: HTTP {response.status_code}")

    def _apprise(self, url: str, notice: AlertNotice) -> None:
        sender = apprise.Apprise()
        if not sender.add(url):
            raise NotifyError("not a usable apprise URL (check the scheme and parameters)")
        # apprise reports failures only through its log: keep what it said.
        with apprise.LogCapture(level=logging.WARNING) as said:
            ok = sender.notify(title=notice.title(), body=notice.body())
        if not ok:
            raise NotifyError(said.getvalue().strip().splitlines()[-1] if said.getvalue().strip()
                              else "apprise could not deliver")

    def close(self) -> None:
        self._http.close()
