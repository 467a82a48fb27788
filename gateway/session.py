"""One WebSocket connection: auth, then client messages in while a task drains its queue.

Every client mistake is answered with an ``error`` frame (``replies.Error``) and counted; the
connection stays open unless the mistake is about who the client is (auth) or capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

from fastapi import WebSocket
from starlette.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from stampede.boards import BOARDS
from stampede.gateway import messages, metrics, replies
from stampede.gateway.clients import Client, Outgoing, TooSlow
from stampede.gateway.hub import Hub
from stampede.gateway.messages import ProtocolError
from stampede.gateway.notices import now_ms
from stampede.gateway.scans import FILTER_FIELDS
from stampede.gateway.settings import GatewaySettings


def same_token(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def origin_allowed(origin: str | None, host: str, allowed: str) -> bool:
    """Whether a WebSocket handshake's ``Origin`` may connect: none (not a browser), the
    gateway's own address (``Host``, whatever the scheme a proxy terminated), or one listed in
    GATEWAY_ALLOWED_ORIGINS. Without it, any web page a trader visits could open the socket
    in their browser (cross-site WebSocket hijacking)."""
    if origin is None:
        return True
    listed = {o.strip().rstrip("/").lower() for o in allowed.split(",") if o.strip()}
    origin = origin.rstrip("/").lower()
    return "*" in listed or origin in listed or origin.partition("://")[2] == host.lower()


def control(message: replies.ServerMessage) -> Outgoing:
    return Outgoing(replies.encode(message), "control")


REFUSED_RETRY_AFTER_S = 5  # a connection refused at the cap is told to come back after this
CLOSE_TIMEOUT = 2.0  # seconds to close a dropped client's socket (it may not read the frame)
# What a message costs of a client's allowance: a subscribe makes one snapshot, a resync one
# per subscription; the rest are cheap.
COSTS: dict[type, int] = {messages.Subscribe: 2, messages.Resync: 5}


class TokenBucket:
    """A client's message allowance: ``rate`` tokens a second, at most ``burst`` saved. A
    refused message still costs its tokens, so a client that keeps going sinks into debt."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self._at = float(burst), time.monotonic()

    def take(self, cost: float) -> float:
        """Spend ``cost``; the balance after it (below zero: over the rate)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate) - cost
        self._at = now
        return self.tokens


class WebSocketSession:
    def __init__(self, ws: WebSocket, hub: Hub, settings: GatewaySettings) -> None:
        self.ws, self.hub, self.settings = ws, hub, settings
        self.client = Client(settings.gateway_client_queue_bytes)
        self.bucket = TokenBucket(
            settings.gateway_client_messages_per_second, settings.gateway_client_message_burst
        )
        self.dropped: str | None = None  # why the gateway ended this client, if it did
        self.opened = time.monotonic()  # its handshake: how long a client lasted is from here

    async def run(self, token: str | None) -> None:
        if not origin_allowed(
            self.ws.headers.get("origin"),
            self.ws.headers.get("host", ""),
            self.settings.gateway_allowed_origins,
        ):
            metrics.CLIENTS_DROPPED.labels("bad_origin").inc()
            await self.ws.close(messages.CLOSE_POLICY)  # before accept: the handshake gets 403
            return
        admission = self.hub.admission
        address = admission.address(
            self.ws.client.host if self.ws.client else None,
            self.ws.headers.get("x-forwarded-for"),
        )
        refusal = admission.admit(address)  # counted from here, before authentication
        if refusal is not None:
            # refused in the handshake (HTTP 503, Retry-After), not after accepting it: a storm
            # of connections over the cap then costs an HTTP answer each, not an accept, an
            # error frame and a close handshake (issue 25, measured by the hostile bench)
            metrics.CLIENT_ERRORS.labels("too_many_clients").inc()
            message = (
                "this gateway is full; retry later or use another replica"
                if refusal == "gateway_full"
                else "too many connections from your address"
            )
            await self.ws.send_denial_response(
                JSONResponse(
                    {"code": "too_many_clients", "message": message},
                    status_code=503,
                    headers={"Retry-After": str(REFUSED_RETRY_AFTER_S)},
                )
            )
            return
        try:
            await self.ws.accept()
            await self._serve(token)
        finally:
            admission.release(address)

    async def _serve(self, token: str | None) -> None:
        if not await self._authenticate(token):
            return
        self.hub.add_client(self.client)
        self.client.push(control(self._hello()))
        pump = asyncio.create_task(self.client.pump(self.ws.send_text))
        reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, reader):
                task.cancel()
            for task in (pump, reader):
                with contextlib.suppress(
                    asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError, TooSlow
                ):
                    await task
            self.hub.remove_client(self.client)
        if self.client.too_slow:
            self.dropped = "too_slow"
        if self.dropped:
            metrics.CLIENTS_DROPPED.labels(self.dropped).inc()
            metrics.DROPPED_AFTER.labels(self.dropped).observe(time.monotonic() - self.opened)
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await asyncio.wait_for(
                    self.ws.close(messages.CLOSE_POLICY, reason=self.dropped), CLOSE_TIMEOUT
                )

    async def _authenticate(self, token: str | None) -> bool:
        expected = self.settings.gateway_token
        if not expected:
            return True
        if token is None:  # the token may come as the first message instead of in the URL
            try:
                text = await asyncio.wait_for(
                    self._receive_text(), self.settings.gateway_auth_timeout_seconds
                )
                first = messages.parse(text) if text is not None else None
            except (TimeoutError, ProtocolError):
                first = None
            token = first.token if isinstance(first, messages.Auth) else None
        if token is not None and same_token(token, expected):
            return True
        await self._refuse(
            "unauthorized",
            "a valid token is required (?token= or a first auth message)",
            messages.CLOSE_UNAUTHORIZED,
        )
        return False

    async def _refuse(self, code: replies.ErrorCode, message: str, close_code: int) -> None:
        metrics.CLIENT_ERRORS.labels(code).inc()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.send_text(replies.encode(replies.Error(code, message)))
            await self.ws.close(close_code, reason=code)

    def _hello(self) -> replies.Hello:
        s = self.settings
        return replies.Hello(
            protocol=messages.PROTOCOL,
            day=self.hub.day,
            server_ms=now_ms(),
            boards=[replies.BoardEntry(b.name, b.title, b.metric, b.ascending) for b in BOARDS],
            fields=list(FILTER_FIELDS),
            limits=replies.Limits(
                max_limit=s.gateway_max_limit,
                max_subscriptions=s.gateway_max_subscriptions,
                max_message_bytes=s.gateway_max_message_bytes,
                filter_depth=s.gateway_filter_depth,
                max_tick_hz=s.gateway_max_tick_hz,
            ),
            stale_after_ms=int(s.gateway_stale_seconds * 1000),
            heartbeat_ms=int(s.gateway_heartbeat_seconds * 1000),
        )

    async def _receive_text(self) -> str | None:
        """The next message as text, or None when the client has gone."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("text") is not None:
            return str(message["text"])
        return (message.get("bytes") or b"").decode("utf-8", errors="replace")

    async def _read(self) -> None:
        while True:
            text = await self._receive_text()
            if text is None:
                return
            if self.bucket.take(1) < -self.bucket.burst:  # junk counts too
                self.dropped = "rate_limited"
                return
            try:
                if len(text) > self.settings.gateway_max_message_bytes:
                    raise ProtocolError(
                        "message_too_large",
                        f"messages are limited to {self.settings.gateway_max_message_bytes} bytes",
                    )
                message = messages.parse(text)
                if self.bucket.take(COSTS.get(type(message), 1) - 1) < 0:
                    raise ProtocolError(
                        "rate_limited",
                        f"at most {self.bucket.rate:g} messages a second (a subscribe counts 2, "
                        "a resync 5); this one was not served",
                    )
                self._handle(message)
            except ProtocolError as exc:
                metrics.CLIENT_ERRORS.labels(exc.code).inc()
                self.client.push(control(replies.Error(exc.code, exc.message, exc.sub_id)))

    def _handle(self, message: messages.ClientMessage) -> None:
        client, hub = self.client, self.hub
        if isinstance(message, messages.Subscribe):
            spec = messages.spec_of(message, self.settings.gateway_max_limit)
            if (
                message.id not in client.subs
                and len(client.subs) >= self.settings.gateway_max_subscriptions
            ):
                raise ProtocolError(
                    "too_many_subscriptions",
                    f"at most {self.settings.gateway_max_subscriptions} subscriptions per client",
                    message.id,
                )
            hub.subscribe(client, message.id, spec)
        elif isinstance(message, messages.Unsubscribe):
            if not hub.unsubscribe(client, message.id):
                raise ProtocolError(
                    "unknown_subscription", f"no subscription {message.id!r}", message.id
                )
            client.push(control(replies.Unsubscribed(message.id)))
        elif isinstance(message, messages.Resync):
            if message.id is not None and message.id not in client.subs:
                raise ProtocolError(
                    "unknown_subscription", f"no subscription {message.id!r}", message.id
                )
            hub.resync(client, message.id)
        elif isinstance(message, messages.Ping):
            client.push(control(replies.Pong(message.t, now_ms())))
        # Auth: already authenticated (or auth is off): harmless
