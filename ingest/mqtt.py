"""MQTT adapter for ingest: translates paho callbacks into ``IngestService.submit`` calls."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from functools import partial

import paho.mqtt.client as mqtt

from tecwatch.devices.payloads import PROBE_PREFIX, confirm_topic, confirmation
from tecwatch.mqtt import BrokerConnection
from tecwatch.settings import BrokerSettings, IngestSettings
from tecwatch.supervise import Supervisor

from .service import IngestService

log = logging.getLogger(__name__)


class MqttIngest:
    """Subscribes with QoS 1 on a persistent session and acknowledges manually.

    Acknowledgements carry the connection generation they belong to: after a reconnect the
    broker redelivers whatever was not acknowledged, and a stale packet id must not be acked
    on the new connection.
    """

    def __init__(self, broker: BrokerSettings, settings: IngestSettings, service: IngestService,
                 supervisor: Supervisor | None = None):
        self._settings = settings
        self._supervisor = supervisor
        self._service = service
        self._conn = BrokerConnection(
            broker, settings.client_id, persistent=True, receive_maximum=settings.receive_maximum
        )
        client = self._conn.client
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._generation = 0
        self._filter = (
            f"$share/{settings.share_group}/{settings.topic_filter}" if settings.share_group else settings.topic_filter
        )
        # A broker that takes a shared subscription but never delivers to it (NATS's MQTT takes
        # "$share/..." as a literal topic) would lose everything silently: before counting as
        # subscribed, a probe sent to a shared subscription of our own must come back.
        self._probe_topic = f"{PROBE_PREFIX}{settings.client_id}"
        self._probe_mid: int | None = None
        self._probed = threading.Event() if settings.share_group else None
        self.subscribed = threading.Event()

    def start(self) -> None:
        self._conn.start(self._supervisor)

    @property
    def connected(self) -> bool:
        return self._conn.client.is_connected()

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Store and acknowledge what has arrived, then disconnect."""
        self._service.drain(drain_timeout)
        self._conn.stop()

    def _on_connect(self, client: mqtt.Client, _userdata, flags, reason, _props) -> None:  # noqa: ANN001
        if reason.is_failure:
            log.error("broker refused connection: %s", reason)
            return
        self._generation += 1
        log.info("connected to broker (session present: %s); subscribing to %s",
                 flags.session_present, self._filter)
        # Subscribing again is harmless when the session already has it, and needed when not.
        client.subscribe(self._filter, qos=1)

    def _on_subscribe(self, client: mqtt.Client, _userdata, mid, reason_codes, _props) -> None:  # noqa: ANN001
        # Subscribed once the broker says so (SUBACK), not when we asked: until then it would
        # take messages for nobody.
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("the broker refused the subscription to %s: %s (check ingest's broker login and ACL)",
                      self._filter if mid != self._probe_mid else self._probe_topic, refused[0])
            return
        if mid == self._probe_mid:
            client.publish(self._probe_topic, b"probe", qos=1)
        elif self._probed is None or self._probed.is_set():
            self.subscribed.set()
        else:
            group = f"{self._settings.share_group}-probe-{self._settings.client_id}"
            self._probe_mid = client.subscribe(f"$share/{group}/{self._probe_topic}", qos=1)[1]
            timer = threading.Timer(self._settings.probe_timeout_s, self._probe_expired)
            timer.daemon = True
            timer.start()

    def _probe_expired(self) -> None:
        if self._probed is not None and not self._probed.is_set():
            reason = (f"the broker took the shared subscription {self._filter} but delivered nothing to a "
                      f"shared subscription in {self._settings.probe_timeout_s:.0f} s: it does not support "
                      f"shared subscriptions (NATS does not); run one ingest worker (--workers 1) on it")
            (self._supervisor or Supervisor()).refuse(reason)

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:  # noqa: ANN001
        self.subscribed.clear()
        if reason.is_failure:
            log.warning("disconnected from broker (%s); reconnecting with backoff", reason)

    def _on_message(self, client: mqtt.Client, _userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")  # noqa: SLF001  (rejected as bad_topic)
        ack = partial(self._ack, client, msg.mid, msg.qos, self._generation) if msg.qos else _no_ack
        if topic == self._probe_topic and self._probed is not None:
            ack()
            self._probed.set()
            self.subscribed.set()
            log.info("shared subscriptions work on this broker; subscribed to %s", self._filter)
            return
        try:
            self._service.submit(topic, msg.payload, ack, redelivered=bool(msg.dup), retained=bool(msg.retain))
        except Exception:  # submit dead-letters its own failures; this is the very last resort
            log.exception("ingest could not take a message on %r; acknowledging it so it is not redelivered "
                          "for ever", topic[:200])
            ack()

    def confirm(self, home_id: str, seqs: list[int]) -> None:
        """Tell the home's gateway these messages are durably handled. QoS 0: a lost confirmation
        only means the gateway sends them again, which is harmless, and QoS 1 cost a fifth of
        the end-to-end throughput (bench/ingest.py --delivery)."""
        self._conn.client.publish(confirm_topic(home_id), confirmation(seqs, datetime.now(timezone.utc)), qos=0)

    def _ack(self, client: mqtt.Client, mid: int, qos: int, generation: int) -> None:
        if generation == self._generation:
            client.ack(mid, qos)


def _no_ack() -> None:
    return None
