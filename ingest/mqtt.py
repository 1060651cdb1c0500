"""MQTT adapter for ingest: translates paho callbacks into ``IngestService.submit`` calls."""

from __future__ import annotations

import logging
import threading
from functools import partial

import paho.mqtt.client as mqtt

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

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _props) -> None:  # noqa: ANN001
        # Subscribed once the broker says so (SUBACK), not when we asked: until then it would
        # take messages for nobody.
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("the broker refused the subscription to %s: %s (check ingest's broker login and ACL)",
                      self._filter, refused[0])
            return
        self.subscribed.set()

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
        try:
            self._service.submit(topic, msg.payload, ack, redelivered=bool(msg.dup), retained=bool(msg.retain))
        except Exception:  # submit dead-letters its own failures; this is the very last resort
            log.exception("ingest could not take a message on %r; acknowledging it so it is not redelivered "
                          "for ever", topic[:200])
            ack()

    def _ack(self, client: mqtt.Client, mid: int, qos: int, generation: int) -> None:
        if generation == self._generation:
            client.ack(mid, qos)


def _no_ack() -> None:
    return None
