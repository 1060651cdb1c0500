"""paho-mqtt clients configured from ``BrokerSettings`` (MQTT 3.1.1 or 5, persistent sessions)."""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tecwatch.settings import BrokerSettings
from tecwatch.supervise import Supervisor


def disconnect_and_stop(client: mqtt.Client) -> None:
    """Disconnect and end paho's network thread. After a disconnect the thread may end by itself
    and clear its handle between loop_stop's check and its join (paho raises AttributeError
    then), so the thread is held here and joined whatever paho did."""
    thread = client._thread  # noqa: SLF001 - paho's own network thread
    client.disconnect()
    try:
        client.loop_stop()
    except AttributeError:
        pass  # it ended by itself, just now
    if thread is not None and thread is not threading.current_thread():
        thread.join()


class BrokerConnection:
    """A paho client plus what it needs to (re)connect; ``connect_async`` + ``loop_start``."""

    def __init__(
        self,
        broker: BrokerSettings,
        client_id: str,
        *,
        persistent: bool,
        receive_maximum: int | None = None,
    ):
        self.broker = broker
        self.v5 = broker.protocol == "5"
        self.persistent = persistent
        kwargs = {} if self.v5 else {"clean_session": not persistent}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            **kwargs,
        )
        if broker.username:
            password = broker.password.get_secret_value() if broker.password else None
            self.client.username_pw_set(broker.username, password)
        if broker.tls:
            self.client.tls_set(
                ca_certs=str(broker.tls_ca_file) if broker.tls_ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        # paho reconnects by itself from the network thread, doubling the delay up to the max.
        self.client.reconnect_delay_set(int(broker.reconnect_min_s) or 1, int(broker.reconnect_max_s))
        self._properties: Properties | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            if persistent:
                # MQTT 5 ends a session at disconnect unless told to keep it.
                props.SessionExpiryInterval = broker.session_expiry_s
            if receive_maximum:
                props.ReceiveMaximum = receive_maximum
            self._properties = props

    def start(self, supervisor: Supervisor | None = None) -> None:
        """Connect in the background; keeps retrying until the broker answers.

        With a supervisor, paho's network thread is watched: if it dies (a callback raised), the
        process ends with a clear log line instead of going on without its connection.
        """
        if self.v5:
            self.client.connect_async(
                self.broker.host,
                self.broker.port,
                keepalive=self.broker.keepalive_s,
                clean_start=not self.persistent,
                properties=self._properties,
            )
        else:
            self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s)
        self.client.loop_start()
        if supervisor is not None:
            network = self.client._thread  # noqa: SLF001 - paho's own network thread, to watch
            self._thread = supervisor.spawn(f"watch-{network.name}", network.join, self._stopped)

    def stop(self) -> None:
        self._stopped.set()
        disconnect_and_stop(self.client)
