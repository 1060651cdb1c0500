"""Real notification receivers on loopback: an HTTP server for webhooks and an SMTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tecwatch.localservices import free_port


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    path: str

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each POST with the next status in ``statuses`` (then 200) and keeps what came."""

    statuses: list[int] = field(default_factory=list)
    on_receive: Callable[[Delivery], None] = lambda d: None
    received: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                delivery = Delivery(body, dict(self.headers.items()), self.path)
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    if status < 300:
                        receiver.received.append(delivery)
                receiver.on_receive(delivery)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpReceiver:
    """aiosmtpd on a loopback port, keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's naming
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def url(self, to: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?to={to}&from=alerts@tecwatch.local&mode=insecure"

    def close(self) -> None:
        self._controller.stop()
