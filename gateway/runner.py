"""The gateway process: local broker (Zigbee2MQTT) -> bridge -> outbox -> forwarder -> platform.

Two MQTT connections: a persistent QoS 1 subscription on the hub's local broker, and the home's
own account on the platform broker with a retained last will ``{"status":"offline"}`` so the
platform can tell a dead hub from a quiet home. A heartbeat overwrites it with ``online``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from tecwatch.gateway.bridge import ZigbeeBridge, status_topic
from tecwatch.gateway.clock import ClockCheck
from tecwatch.gateway.config import GatewayConfig
from tecwatch.gateway.forwarder import Forwarder
from tecwatch.gateway.outbox import Outbox

from tecwatch.devices.payloads import confirm_topic, parse_confirmation
from tecwatch.mqtt import BrokerConnection

log = logging.getLogger(__name__)

OFFLINE_WILL = b'{"status":"offline"}'


class Gateway:
    def __init__(self, config: GatewayConfig):
        self.config = config
        self._started = time.monotonic()
        self._stop = threading.Event()  # ends the forwarder, last
        self._stop_beats = threading.Event()  # ends heartbeats, before the goodbye "offline"
        self._beat = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._status_topic = status_topic(config.home_id)
        self.outbox = Outbox(config.outbox_path, config.outbox_max_messages, resend_after_s=config.resend_after_s,
                             resend_max_s=config.resend_max_s)
        self._confirm_topic = confirm_topic(config.home_id)
        self.bridge = ZigbeeBridge(config, self.outbox, on_change=self._beat.set)
        self.clock = ClockCheck(config.clock_check_url, ca_file=config.platform.tls_ca_file)

        self.platform = BrokerConnection(config.platform_broker(), f"tecwatch-gw-{config.home_id}", persistent=False)
        pc = self.platform.client
        pc.will_set(self._status_topic, OFFLINE_WILL, qos=1, retain=True)
        pc.max_inflight_messages_set(config.max_in_flight)
        self.forwarder = Forwarder(self.outbox, pc, config.max_in_flight)
        pc.on_publish = self.forwarder.on_publish
        pc.on_connect = self._on_platform_connect
        pc.on_disconnect = self._on_platform_disconnect
        pc.on_connect_fail = self._on_platform_connect_fail
        pc.on_message = self._on_platform_message
        self._reported_unreachable = False

        # A persistent session keeps QoS 1 states queued on the hub while this process restarts.
        self.local = BrokerConnection(config.local_broker(), f"tecwatch-gw-local-{config.home_id}", persistent=True)
        lc = self.local.client
        lc.on_connect = self._on_local_connect
        lc.on_message = self._on_local_message
        lc.on_subscribe = self._on_local_subscribe
        self.subscribed = threading.Event()  # set once the local subscription is in place

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("forwarder", lambda: self.forwarder.run(self._stop)), ("heartbeat", self._heartbeats)):
            t = threading.Thread(target=target, name=f"gateway-{name}", daemon=True)
            t.start()
            self._threads[name] = t
        self.platform.start()
        self.local.start()
        log.info("gateway for %s started: %d devices, outbox %s holds %d",
                 self.config.home_id, len(self.config.devices), self.config.outbox_path, self.outbox.depth())

    def stop(self, drain_s: float = 5.0) -> None:
        """Stop taking Zigbee messages, give the outbox a moment to drain, say offline, stop."""
        self.local.stop()
        self._stop_beats.set()
        self._beat.set()
        self._threads["heartbeat"].join(timeout=5)
        deadline = time.monotonic() + drain_s
        while self.platform.client.is_connected() and self.outbox.depth() and time.monotonic() < deadline:
            self.forwarder.notify()
            time.sleep(0.05)
        if self.platform.client.is_connected():
            info = self.platform.client.publish(self._status_topic, self._status_payload("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except RuntimeError:
                pass  # the connection went while saying goodbye; the last will says it instead
        self._stop.set()
        self.forwarder.notify()
        self._threads["forwarder"].join(timeout=5)
        self.platform.stop()
        left = self.outbox.depth()
        if left:
            log.warning("gateway stopped with %d messages in the outbox; they are sent on next start", left)
        self.outbox.close()

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self.platform.client.is_connected(),
            "outbox_depth": self.outbox.depth(),
            "outbox_dropped": self.outbox.dropped(),
            "in_flight": self.forwarder.in_flight(),
            "sent": self.forwarder.sent,
            "confirmed": self.forwarder.confirmed,
            "unconfirmed": self.outbox.unconfirmed()[0],
            "refused": self.forwarder.refused,
            "local": self.bridge.counts(),
            "devices_offline": self.bridge.offline_devices(),
            "problems": self.bridge.problems(),
            "clock": self.clock.status_values(),
        }

    # -- MQTT callbacks (paho network threads) -----------------------------------------------

    def _on_local_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("local broker refused the connection: %s", reason_code)
            return
        client.subscribe(f"{self.config.local.base_topic}/#", qos=1)
        log.info("subscribing to %s/# on the local broker", self.config.local.base_topic)

    def _on_local_subscribe(self, _client, _userdata, _mid, _reason_codes, _properties) -> None:
        log.info("subscribed to %s/# on the local broker", self.config.local.base_topic)
        self.subscribed.set()

    def _on_local_message(self, _client, _userdata, msg) -> None:
        # The state is on disk in the outbox before this returns, and paho acknowledges a QoS 1
        # message only after it returns: a crash in between means redelivery, not loss.
        self.bridge.handle(msg.topic, msg.payload, retained=bool(msg.retain))
        self.forwarder.notify()

    def _on_platform_connect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("platform broker refused the connection: %s (check this home's username/password)", reason_code)
            return
        self._reported_unreachable = False
        # The platform's confirmations of what it stored: only then do messages leave the outbox.
        _client.subscribe(self._confirm_topic, qos=1)
        log.info("connected to the platform broker; %d messages waiting in the outbox", self.outbox.depth())
        self._beat.set()  # replace the retained last will with "online" at once
        self.forwarder.notify()

    def _on_platform_message(self, _client, _userdata, msg) -> None:
        seqs = parse_confirmation(msg.payload) if msg.topic == self._confirm_topic else None
        if seqs is None:
            log.warning("unexpected message from the platform on %s; ignored", msg.topic)
            return
        self.forwarder.on_confirm(seqs)

    def _on_platform_connect_fail(self, _client, _userdata) -> None:
        # Once per outage: paho retries with backoff and the heartbeat logs the outbox depth.
        if not self._reported_unreachable:
            self._reported_unreachable = True
            b = self.platform.broker
            log.warning("cannot connect to the platform broker at %s:%d%s; retrying", b.host, b.port,
                        " (TLS: check tls_ca_file and the server certificate)" if b.tls else "")

    def _on_platform_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if not self._stop.is_set():
            log.warning("lost the platform broker (%s); queueing in the outbox until it is back", reason_code)

    # -- heartbeat ---------------------------------------------------------------------------

    def _heartbeats(self) -> None:
        while not self._stop_beats.is_set():
            self._beat.wait(self.config.heartbeat_s)
            self._beat.clear()
            if self._stop_beats.is_set():
                return
            try:
                self._heartbeat()
            except Exception:
                log.exception("heartbeat failed")

    def _heartbeat(self) -> None:
        self.clock.check_if_due()  # here, so a slow reference delays heartbeats, never messages
        client = self.platform.client
        if not client.is_connected():
            log.warning("platform broker unreachable; %d messages waiting in the outbox", self.outbox.depth())
            return
        # Retained, so a newcomer (or a restarted platform) sees the hub's latest state, and
        # the broker's copy of the last will is replaced.
        client.publish(self._status_topic, self._status_payload("online"), qos=1, retain=True)

    def _status_payload(self, status: str) -> bytes:
        unconfirmed, oldest = self.outbox.unconfirmed()
        body: dict[str, Any] = {
            "type": "gateway",
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "seq": self.outbox.next_seq(),
            "status": status,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "outbox_depth": float(self.outbox.depth()),
            "outbox_dropped": float(self.outbox.dropped()),
            "outbox_unconfirmed": float(unconfirmed),
            **({} if oldest is None else {"outbox_oldest_s": round(oldest, 1)}),
            **self.bridge.status_values(),
            **self.clock.status_values(),
        }
        return json.dumps(body).encode()


def run_gateway(config: GatewayConfig, stop: threading.Event, stats_interval_s: float = 60.0) -> None:
    """Run until ``stop`` is set, logging a summary now and then."""
    gateway = Gateway(config)
    gateway.start()
    try:
        while not stop.wait(stats_interval_s):
            s = gateway.stats()
            log.info("gateway %s: connected=%s sent=%d confirmed=%d outbox=%d (unconfirmed %d) dropped=%d local=%s",
                     config.home_id, s["connected"], s["sent"], s["confirmed"], s["outbox_depth"], s["unconfirmed"],
                     s["outbox_dropped"],
                     {k: v for k, v in {**s["local"], **s["problems"]}.items() if v})
    finally:
        gateway.stop()
