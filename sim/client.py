"""One WebSocket client of the simulator: its subscriptions and its server-side send buffer.

Frames wait in a per-connection outbox drained by one writer task. When the bytes waiting
pass ``slow_consumer_bytes`` the client is cut off with ``slow_consumer``, as Massive does to a
reader that falls behind; nothing upstream ever waits for a client.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from stampede.market import Status, encode
from stampede.sim.subscriptions import Subscriptions
from stampede.sim.truth import Truth

log = logging.getLogger(__name__)
_ids = itertools.count(1)

CLOSE_NORMAL, CLOSE_POLICY = 1000, 1008


def status_frame(status: str, message: str) -> bytes:
    return encode([Status(status=status, message=message)])


class Client:
    def __init__(
        self,
        ws: ServerConnection,
        index: dict[str, int],
        slow_consumer_bytes: int,
        on_frame: Callable[[Client, bytes], None] | None = None,
        on_terminate: Callable[[str], None] | None = None,
    ) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.key: str | None = None
        self.truth: Truth | None = None
        self.subs = Subscriptions(index)
        self.limit = slow_consumer_bytes
        self.outbox: collections.deque[bytes] = collections.deque()
        self.pending_bytes = 0
        self.closed = False
        self.hung = False  # silenced by the `hang` fault: sends nothing, reads nothing
        self.close_reason = ""
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write(), name=f"sim-client-{self.id}")
        self._on_frame = on_frame  # metrics hook: (client, frame) -> None
        self._on_terminate = on_terminate  # metrics hook: (status) -> None

    @property
    def authenticated(self) -> bool:
        return self.key is not None and not self.closed and not self.hung

    def send_status(self, status: str, message: str) -> None:
        self.push(status_frame(status, message))

    def push(self, frame: bytes) -> bool:
        """Queue a frame; cut the client off if its buffer is past the bound."""
        if self.closed or self.hung:
            return False
        self.outbox.append(frame)
        self.pending_bytes += len(frame)
        self._wake.set()
        if self.pending_bytes > self.limit:
            self.terminate(
                "slow_consumer", "Slow consumer: the connection is not reading fast enough."
            )
            return False
        return True

    def terminate(self, status: str, message: str, code: int = CLOSE_NORMAL) -> None:
        """Send a final status and close (max_connections, slow_consumer, force_disconnect ...).

        A hung connection cannot deliver a status any more: it is cut instead.
        """
        if self.closed:
            return
        if self.hung:
            self.drop()
            return
        self.closed = True
        self.close_reason = status
        if self._on_terminate is not None:
            self._on_terminate(status)
        self.outbox.clear()
        self.pending_bytes = 0
        self._wake.set()
        asyncio.get_running_loop().create_task(self._close(status_frame(status, message), code))

    def hang(self) -> None:
        """Go silent without closing: nothing more is written, nothing is read (so pings go
        unanswered), and the server's own keepalive stops too. Queued frames are never sent."""
        self.hung = True
        self.outbox.clear()
        self.pending_bytes = 0
        if self.ws.keepalive_task is not None:
            self.ws.keepalive_task.cancel()
        if self.ws.transport is not None:
            self.ws.transport.pause_reading()

    def drop(self) -> None:
        """Cut the TCP connection with no status and no close frame (a network failure)."""
        self.closed = True
        self.close_reason = "dropped"
        self._wake.set()
        if self.ws.transport is not None:
            self.ws.transport.abort()

    async def _close(self, final: bytes, code: int) -> None:
        try:
            await asyncio.wait_for(self.ws.send(final, text=True), 2.0)
            await asyncio.wait_for(self.ws.close(code), 2.0)
        except (TimeoutError, ConnectionClosed, OSError):
            if self.ws.transport is not None:
                self.ws.transport.abort()

    async def _write(self) -> None:
        try:
            while not self.closed:
                if not self.outbox:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                frame = self.outbox.popleft()
                self.pending_bytes -= len(frame)
                await self.ws.send(frame, text=True)
                if self._on_frame is not None:
                    self._on_frame(self, frame)
        except ConnectionClosed:
            self.closed = True
        except Exception:  # pragma: no cover - a bug here must not kill the server
            log.exception("writer of client %s failed", self.id)
            self.closed = True

    async def stop(self) -> None:
        self.closed = True
        self._wake.set()
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass
