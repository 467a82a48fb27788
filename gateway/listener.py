"""Listening to change notices (``sp:changes``) through Redis failures.

On any failure it reconnects with backoff; once subscribed again it asks for a tick, since
notices may have been missed meanwhile. ``use`` moves it to another server (the gateway's read
source switched between its replica and the primary). ``listening`` feeds ``/readyz`` and the heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from stampede import keys
from stampede.gateway import metrics
from stampede.redisclient import RedisClient

log = logging.getLogger(__name__)


class Listener:
    def __init__(
        self,
        redis: RedisClient,
        on_notice: Callable[[str | bytes], None],
        on_subscribed: Callable[[], None],
    ) -> None:
        self.redis = redis
        self.on_notice = on_notice
        self.on_subscribed = on_subscribed
        self.listening = False
        self._session: asyncio.Future[None] | None = None

    def use(self, redis: RedisClient) -> None:
        """Listen to ``redis`` from now on (the read source switched): the current subscription
        ends and a new one starts there, asking for a tick once subscribed."""
        self.redis = redis
        if self._session is not None:
            self._session.cancel()

    async def run(self) -> None:
        while True:
            self._session = asyncio.ensure_future(self._listen(self.redis))
            try:
                await self._session
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the listener itself was cancelled
                # else ``use`` ended the subscription: subscribe again to the new server

    async def _listen(self, redis: RedisClient) -> None:
        backoff = 0.1
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(keys.CHANGES_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        self.listening = True
                        backoff = 0.1
                        self.on_subscribed()
                    elif message["type"] == "message":
                        self.on_notice(message["data"])
            except (RedisError, OSError) as exc:
                self.listening = False
                metrics.REDIS_ERRORS.labels("subscribe").inc()
                log.warning(
                    "change notifications interrupted (%s); reconnecting in %.1fs", exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
