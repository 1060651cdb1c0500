"""Outbox -> platform broker at QoS 1; a message leaves the outbox only once the platform
confirms it handled it (``on_confirm``), not when the broker acknowledges it.

While connected, up to ``max_in_flight`` outbox messages are published (alarms first, then in
order). paho keeps unacknowledged QoS 1 messages and resends them itself after a reconnect, so
the in-flight map survives an outage within the process. A message the broker took waits in the
outbox for its confirmation and is published again if none comes (see ``Outbox.peek``); after a
gateway restart the outbox still holds everything unconfirmed. Copies are harmless: the stores
keep a reading once, and the alert engine raises an alarm once.

Over MQTT 5 the broker says when a message reached no subscriber (reason 16). Accepted is not
delivered: Mosquitto does not keep shared subscriptions over its own restart, so until ingest
has subscribed again it would take and drop every message. Such a message stays in the outbox
and is sent again after a pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import paho.mqtt.client as mqtt
from tecwatch.gateway.outbox import Outbox

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 16  # an MQTT 5 PUBACK reason code


class Forwarder:
    def __init__(self, outbox: Outbox, client: mqtt.Client, max_in_flight: int = 500, no_subscriber_pause_s: float = 2.0):
        self._outbox = outbox
        self._client = client
        self._max_in_flight = max_in_flight
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox id; touched by the forwarder thread only
        self._acked: deque[tuple[int, bool, bool]] = deque()  # (mid, refused, undelivered) from the network thread
        self._confirmed: deque[list[int]] = deque()  # sequence numbers the platform confirmed
        self._no_subscriber_pause_s = no_subscriber_pause_s
        self._paused_until = 0.0  # monotonic; nobody was subscribed, so wait before sending more
        self._wake = threading.Event()
        # Written by the forwarder thread only; others just read them.
        self.sent = 0  # taken by the broker
        self.confirmed = 0  # confirmed by the platform
        self.refused = 0

    def notify(self) -> None:
        """Something new is in the outbox, or the connection came up."""
        self._wake.set()

    def on_publish(self, _client, _userdata, mid: int, reason_code, _properties) -> None:
        # paho's network thread: record and wake, nothing more (no locks shared with publish()).
        refused = bool(getattr(reason_code, "is_failure", False))
        undelivered = getattr(reason_code, "value", 0) == NO_MATCHING_SUBSCRIBERS
        self._acked.append((mid, refused, undelivered))
        self._wake.set()

    def on_confirm(self, seqs: list[int]) -> None:
        """The platform has these messages durably (from the network thread: record and wake)."""
        self._confirmed.append(seqs)
        self._wake.set()

    def run(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        while not stop.is_set():
            self._wake.wait(idle_s)
            self._wake.clear()
            try:
                self.pump()
            except Exception:  # a full disk or a broken outbox must be loud, not a dead thread
                log.exception("forwarding from the outbox failed; retrying")
                stop.wait(idle_s)

    def pump(self) -> int:
        """Settle confirmations and acknowledgements, then publish what fits in the window
        (including what is overdue for a confirmation); returns how many were published."""
        seqs = [q for batch in iter(self._drain_confirmed, None) for q in batch]
        if seqs:
            self.confirmed += self._outbox.confirm(seqs)
        taken: list[int] = []
        refused: list[int] = []
        while self._acked:
            mid, was_refused, undelivered = self._acked.popleft()
            outbox_id = self._in_flight.pop(mid, None)
            if outbox_id is None:
                continue  # a heartbeat, or a message from before a reconnect already settled
            if undelivered:  # kept: it goes again after the pause
                if time.monotonic() >= self._paused_until:
                    log.warning("the platform broker has no subscriber for this home's messages (is ingest "
                                "running?); keeping them in the outbox and trying again in %.0f s",
                                self._no_subscriber_pause_s)
                self._paused_until = time.monotonic() + self._no_subscriber_pause_s
                continue
            if was_refused:
                # Retrying cannot help (e.g. not authorised for the topic); keep it visible.
                self.refused += 1
                log.error("platform broker refused message %d; check this home's credentials/ACL", outbox_id)
                refused.append(outbox_id)
            else:
                taken.append(outbox_id)
        if taken or refused:
            self._outbox.settle(taken, refused)
            self.sent += len(taken)
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0 or not self._client.is_connected() or time.monotonic() < self._paused_until:
            return 0
        batch = self._outbox.peek(room, skip=set(self._in_flight.values()))
        for q in batch:
            info = self._client.publish(q.topic, q.payload, qos=1)
            # Even when the connection has just dropped, paho keeps a QoS 1 message and sends
            # it on reconnect, so the mid is tracked either way.
            self._in_flight[info.mid] = q.id
        return len(batch)

    def in_flight(self) -> int:
        return len(self._in_flight)

    def _drain_confirmed(self) -> list[int] | None:
        return self._confirmed.popleft() if self._confirmed else None
