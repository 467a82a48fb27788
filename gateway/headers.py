"""Security headers on every HTTP answer of the gateway, bounds on request heads, their size
and the time they take, and on how long a cut-off WebSocket keeps its socket (its port is
public).

The dashboard loads only its own files (no CDN, no inline script), so the policy can say so:
a script injected into a row or a news headline could not run, the page cannot be framed by
another site, and nothing is sniffed into a type it is not. Inline styles stay allowed: the
chart library sizes its canvases through element styles.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from stampede.gateway import metrics

MAX_HEADER_BYTES = 16 * 1024  # a request head, as nginx's 4 x 8 KB; the gateway's are short
CLOSE_HANDSHAKE_S = 2.0  # a client has this long to answer the gateway's close frame
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
]


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware): adds
    :data:`HEADERS` to the start of every HTTP response; WebSockets pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class HeadLimit:
    """Refuses a request whose head (its headers) is past ``limit`` bytes: 431 for HTTP, close
    1009 for a WebSocket. The server's h11 parser already stops reading a head that arrives in
    pieces past the limit (a 64 MB header is never held); this catches one that came whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = sum(len(k) + len(v) for k, v in scope.get("headers", ()))
        if scope["type"] not in ("http", "websocket") or size <= self.limit:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            body = b"request header fields too large"
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [(b"content-type", b"text/plain"), *HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1009, "reason": "header too large"})


class HeadTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol with a header read timeout, which uvicorn lacks: a connection
    that has not sent a whole request head within ``head_timeout`` seconds of connecting, or of
    its last response, is closed. A slowloris client (a header byte every few seconds) held a
    connection for ever before (issue 25); nginx's ``client_header_timeout`` is the model."""

    head_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self.conn.their_state is not h11.IDLE:
            self._head_timer.cancel()  # a whole head came (a WebSocket upgrade included)
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._wait_for_head()  # the next request on this connection has the same time

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            metrics.CLIENTS_DROPPED.labels("header_timeout").inc()
            self.transport.close()


class PromptClose(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, waiting ``CLOSE_HANDSHAKE_S`` for a client's answer to the
    gateway's close frame instead of uvicorn's fixed 10 s. A client cut off for flooding
    (``rate_limited``) or for not reading (``too_slow``) does not answer, and kept its socket
    open 10 s past its drop (issue 25: every flooder disconnected within 10 s). One that does
    not answer a ping (``unresponsive``) is counted as a drop too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_timeout = CLOSE_HANDSHAKE_S
        self._opened = time.monotonic()

    def keepalive_timeout(self) -> None:
        """A client that did not answer a ping in time: it stopped reading (or is gone). It is
        closed as uvicorn does, and counted like the clients the gateway cuts off itself."""
        if not (self.close_sent or self.transport.is_closing()):
            metrics.CLIENTS_DROPPED.labels("unresponsive").inc()
            metrics.DROPPED_AFTER.labels("unresponsive").observe(time.monotonic() - self._opened)
        super().keepalive_timeout()


def head_timeout_protocol(seconds: float) -> type[HeadTimeoutH11]:
    """The protocol class uvicorn serves with (``http=``), with its header read timeout."""
    return type("HeadTimeoutH11", (HeadTimeoutH11,), {"head_timeout": seconds})
