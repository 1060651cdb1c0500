"""One middleware for what every request and response needs, whatever route serves it:

- who the client is and whether it came over HTTPS: X-Forwarded-For and X-Forwarded-Proto are
  believed from the configured trusted proxies only;
- cross-site request forgery: a state-changing request made with the session cookie (and every
  form post of the pages) must come from our own origin (Sec-Fetch-Site, then Origin or Referer);
  one with none of these is not from a browser. Bearer tokens and API keys cannot be sent by
  another site's page, so they need no check;
- security headers: a content security policy that allows only our own scripts and styles and
  no framing, no referrer beyond our origin, no MIME sniffing, and HSTS in production.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tecwatch.settings import Settings

COOKIE = "tecwatch_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"
# Acknowledge links carry their token in the URL: it must not travel on as a Referer.
ACK_PREFIX = "/ack/"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port if parts.port not in (None, default) else None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}".lower()


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.production = settings.production
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in settings.api.trusted_proxies]
        self.public_origin = _origin(settings.alerts.public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = self._through_proxy(scope)
        headers = Headers(scope=scope)
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add_headers(MutableHeaders(scope=message), path)
            await send(message)

        if self._forgery_check_needed(scope, headers) and not self._same_origin(scope, headers):
            await _refuse(send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _is_trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def _through_proxy(self, scope: Scope) -> Scope:
        client = scope.get("client")
        if not self.trusted or not client or not self._is_trusted(client[0]):
            return scope
        headers = Headers(scope=scope)
        scope = dict(scope)
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        # The nearest address that is not one of our proxies is the client (the rest a client
        # could have written itself).
        for hop in reversed([h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]):
            if not self._is_trusted(hop):
                scope["client"] = (hop, 0)
                break
        return scope

    @staticmethod
    def _forgery_check_needed(scope: Scope, headers: Headers) -> bool:
        if scope["method"] in SAFE_METHODS or "authorization" in headers or "x-api-key" in headers:
            return False
        if scope["path"].startswith(ACK_PREFIX):
            return False  # no session: the link's own token is what counts, and a forger lacks it
        with_cookie = f"{COOKIE}=" in headers.get("cookie", "")
        return with_cookie or not scope["path"].startswith("/api/")

    def _same_origin(self, scope: Scope, headers: Headers) -> bool:
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        claimed = headers.get("origin")
        if claimed is None:
            referer = headers.get("referer")
            if referer is None:
                # Browsers send Origin (and Sec-Fetch-Site) with every cross-origin post: with
                # neither, this is a script or a tool, not a page another site made.
                return True
            claimed = _origin(referer) or "null"
        ours = {_origin(f"{scope['scheme']}://{headers.get('host', '')}"), self.public_origin} - {None}
        return claimed.lower().rstrip("/") in ours or _origin(claimed) in ours

    def _add_headers(self, headers: MutableHeaders, path: str) -> None:
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer" if path.startswith(ACK_PREFIX) else "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if self.production:
            headers.setdefault("Strict-Transport-Security", HSTS)


async def _refuse(send: Send) -> None:
    body = json.dumps({"detail": "refused: this request came from another site"}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RedactTokens(logging.Filter):
    """For the server's access log: acknowledge links carry their token in the query string."""

    _TOKEN = re.compile(r"(?i)([?&](?:token|access_token)=)[^&\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._TOKEN.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
