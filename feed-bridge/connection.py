"""The one Massive WebSocket: handshake, read loop, and why each connection ended.

The read loop only moves raw frames into the :class:`FrameQueue` (parsing happens in the
publisher task), except that a frame containing ``"status"`` is also inspected here: the
connection logic must know *why* the server is about to close (evicted by another connection,
slow consumer, forced) before the close arrives. Pings every ~25 s with a ~30 s dead-peer
timeout come from the ``websockets`` library: they are what notices a connection that went
silent without a close (no status, no FIN), which is reported as ``ping_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from stampede.bridge import protocol
from stampede.bridge.framequeue import FrameQueue
from stampede.bridge.link import FeedLink
from stampede.bridge.metrics import BridgeMetrics
from stampede.bridge.protocol import Meaning
from stampede.bridge.settings import BridgeSettings
from stampede.market import Status, decode_frame_items

log = logging.getLogger(__name__)

# websockets logs every frame at DEBUG, including our auth message with the API key in it.
# Its logger is ours and never goes below INFO, whatever LOG_LEVEL says.
_ws_log = logging.getLogger(f"{__name__}.websocket")
_ws_log.setLevel(logging.INFO)

STATUS_MARKER = b'"status"'


class AuthRejected(Exception):
    """Massive refused the API key. Fatal: retrying with the same key cannot succeed."""


class SessionEnded(Exception):
    """A connection ended; ``reason`` labels the reconnect metric."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class FeedConnection:
    def __init__(
        self, settings: BridgeSettings, queue: FrameQueue, metrics: BridgeMetrics, link: FeedLink
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.metrics = metrics
        self.link = link
        self.authenticated = False
        self.was_authenticated = False  # during the current/last session
        self._authenticated_at: float | None = None  # monotonic, current/last session
        self._ended_at = 0.0
        self.last_problem = "not connected yet"
        self._server_said: Meaning | None = None  # a disconnect status seen on this connection
        self._server_message = ""

    async def session(self) -> None:
        """Connect, authenticate, subscribe and read until the connection ends.

        Raises :class:`AuthRejected` (fatal) or :class:`SessionEnded` (reconnect).
        """
        self._server_said = None
        self.was_authenticated = False
        self._authenticated_at = None
        settings = self.settings
        self.metrics.connect_attempts.inc()
        self.link.enter("connecting")
        try:
            async with asyncio.timeout(settings.bridge_handshake_timeout):
                ws = await connect(
                    settings.massive_ws_url,
                    ping_interval=settings.bridge_ping_interval,
                    ping_timeout=settings.bridge_ping_timeout,
                    max_size=settings.bridge_max_frame_bytes,
                    close_timeout=2,
                    logger=_ws_log,
                )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise SessionEnded("connect_failed", f"{type(exc).__name__}: {exc}") from None
        try:
            try:
                async with asyncio.timeout(settings.bridge_handshake_timeout):
                    await self._handshake(ws)
            except TimeoutError:
                raise SessionEnded("handshake_timeout") from None
            self._set_authenticated(True)
            await ws.send(protocol.subscribe_message(settings.subscriptions()))
            log.info("feed subscribed to %s", ",".join(settings.subscriptions()))
            await self._read(ws)
        except ConnectionClosed as exc:
            raise self._ended_by(exc) from None
        finally:
            self._set_authenticated(False)
            self._ended_at = time.monotonic()
            await ws.close()

    def held_for(self) -> float:
        """Seconds the last session stayed authenticated (0 if it never was)."""
        if self._authenticated_at is None:
            return 0.0
        return max(0.0, self._ended_at - self._authenticated_at)

    async def _handshake(self, ws: ClientConnection) -> None:
        """Wait for ``connected``, send auth, wait for the answer (old or new style)."""
        sent_auth = False
        while True:
            for status in _statuses(await ws.recv(decode=False)):
                meaning = protocol.classify(status.status, authenticating=sent_auth)
                self._count(status)
                if meaning is Meaning.CONNECTED and not sent_auth:
                    await ws.send(
                        protocol.auth_message(self.settings.massive_api_key.get_secret_value())
                    )
                    sent_auth = True
                elif meaning is Meaning.AUTHENTICATED:
                    log.info("feed authenticated at %s", self.settings.feed_source)
                    return
                elif meaning is Meaning.AUTH_REJECTED:
                    raise AuthRejected(
                        f"Massive rejected the API key ({status.status}: {status.message!r}). "
                        "Check MASSIVE_API_KEY; not retrying with the same key."
                    )
                elif meaning in protocol.DISCONNECTS:
                    raise SessionEnded(status.status, status.message)

    async def _read(self, ws: ClientConnection) -> None:
        recv = ws.recv
        put = self.queue.put
        frames = self.metrics.frames
        received_bytes = self.metrics.bytes_received
        clock = time.time
        while True:
            raw = await recv(decode=False)
            read_at = clock()
            frames.inc()
            received_bytes.inc(len(raw))
            if STATUS_MARKER in raw:
                self._inspect_statuses(raw)
            put(raw, read_at)

    def _inspect_statuses(self, raw: bytes) -> None:
        for status in _statuses(raw):
            self._count(status)
            meaning = protocol.classify(status.status, authenticating=False)
            if meaning in protocol.DISCONNECTS:
                self._server_said, self._server_message = meaning, status.message
                level = logging.ERROR if meaning is Meaning.EVICTED else logging.WARNING
                log.log(level, "feed status %s: %s", status.status, status.message)
            elif meaning is Meaning.SUBSCRIBED:
                log.info("feed status: %s", status.message)
            else:
                log.warning("feed status %s: %s", status.status, status.message)

    def _ended_by(self, exc: ConnectionClosed) -> SessionEnded:
        """Name the end of a connection: a status the server sent, or the close itself."""
        if self._server_said is not None:
            return SessionEnded(_STATUS_OF[self._server_said], self._server_message)
        if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1011:
            return SessionEnded("ping_timeout", "no pong from Massive in time")
        if exc.rcvd is not None:
            if exc.rcvd.code == 1011:
                return SessionEnded(
                    "close_1011", exc.rcvd.reason or "server keepalive/internal error"
                )
            return SessionEnded("server_closed", f"{exc.rcvd.code} {exc.rcvd.reason}")
        return SessionEnded("connection_lost", str(exc))

    def _count(self, status: Status) -> None:
        self.metrics.statuses.labels(status.status).inc()

    def _set_authenticated(self, value: bool) -> None:
        self.authenticated = value
        self.was_authenticated = self.was_authenticated or value
        self.metrics.feed_connected.set(1 if value else 0)
        if value:
            self._authenticated_at = time.monotonic()
            self.link.enter("connected")


_STATUS_OF = {
    Meaning.EVICTED: "max_connections",
    Meaning.SLOW_CONSUMER: "slow_consumer",
    Meaning.FORCE_DISCONNECT: "force_disconnect",
    Meaning.AUTH_TIMEOUT: "auth_timeout",
}


def _statuses(raw: bytes) -> list[Status]:
    items, _problems = decode_frame_items(raw)
    return [item for item in items if isinstance(item, Status)]
