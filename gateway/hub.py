"""The hub: one reader of Redis per gateway, fanning board diffs out to every client.

Work per tick follows boards and distinct subscription specs, never clients. The parts, one
job each: ``listener`` hears change notices, ``notices`` decodes them (current day,
freshness), ``ticker`` reads the watched boards and diffs each view, ``subscriptions`` keeps
who watches what and fans diffs out, ``clients`` holds each connection's bounded queue. The hub
wires them together and runs the periodic jobs (safety refresh, heartbeat, polling the bridge's
feed link when ``GATEWAY_BRIDGE_URL`` is set, and watching the read replica when
``GATEWAY_REDIS_READ_URL`` is: ``readsource`` moves reads and notices to the primary while the
replica is unusable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.exceptions import RedisError

from stampede.gateway import replies
from stampede.gateway.admission import Admission
from stampede.gateway.clients import Client
from stampede.gateway.feedlink import FeedLinkPoller
from stampede.gateway.listener import Listener
from stampede.gateway.notices import Freshness, Notices, now_ms
from stampede.gateway.readsource import ReadSource
from stampede.gateway.scans import Spec
from stampede.gateway.settings import GatewaySettings
from stampede.gateway.store import BoardReader, newest_day, today_et
from stampede.gateway.subscriptions import Feed, Subscriptions
from stampede.gateway.ticker import Ticker
from stampede.redisclient import RedisClient

log = logging.getLogger(__name__)


class Hub:
    def __init__(
        self, settings: GatewaySettings, redis: RedisClient, primary: RedisClient | None = None
    ) -> None:
        """``redis`` is where boards are read; with ``primary`` (it is then a read replica of
        that one) reads move to the primary while the replica is unusable."""
        self.settings = settings
        self.redis = redis
        self.reader = BoardReader(redis, settings.redis_shards)
        self.subscriptions = Subscriptions()
        self.admission = Admission(
            settings.gateway_max_clients,
            settings.gateway_max_clients_per_address,
            settings.gateway_trusted_proxies,
        )
        self.notices = Notices()
        self.ticker = Ticker(settings, self.subscriptions, self.notices, self.reader)
        self.listener = Listener(redis, self.on_notification, self.ticker.request)
        self.feed_link = (
            FeedLinkPoller(settings.gateway_bridge_url, settings.gateway_heartbeat_seconds)
            if settings.gateway_bridge_url
            else None
        )
        self.source = (
            ReadSource(redis, primary, settings.gateway_replica_max_lag_seconds, self.use)
            if primary is not None
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def read_client(self) -> RedisClient:
        """The Redis boards are read from now: the replica, or the primary while the watch
        says the replica is unusable."""
        return self.source.current if self.source is not None else self.redis

    def use(self, redis: RedisClient) -> None:
        """Read boards and hear notices from ``redis`` from now on."""
        self.reader.use(redis)
        self.listener.use(redis)
        self.ticker.request()

    # -- what the app and the tests look at -------------------------------------------------

    @property
    def day(self) -> str:
        return self.notices.day

    @property
    def boards(self) -> dict[str, Freshness]:
        return self.notices.boards

    @property
    def clients(self) -> set[Client]:
        return self.subscriptions.clients

    @property
    def feeds(self) -> dict[Spec, Feed]:
        return self.subscriptions.feeds

    @property
    def listening(self) -> bool:
        return self.listener.listening

    @property
    def ticks(self) -> int:
        return self.ticker.ticks

    @property
    def redis_reads(self) -> int:
        return self.ticker.redis_reads

    def feed_time_ms(self, rows: list[dict[str, Any]]) -> int:
        return self.notices.feed_time_ms(rows)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            found = await newest_day(self.redis)
        except (RedisError, OSError) as exc:
            found = None
            log.warning("could not scan Redis for the current day: %s", exc)
        self.notices.start(found, today_et())
        self._tasks = [
            asyncio.create_task(coro, name=name)
            for name, coro in (
                ("gateway-ticker", self.ticker.run()),
                ("gateway-listener", self.listener.run()),
                ("gateway-refresher", self._refresher()),
                ("gateway-heartbeat", self._heartbeat()),
            )
        ]
        if self.feed_link is not None:
            self._tasks.append(asyncio.create_task(self.feed_link.run(), name="gateway-feed-link"))
        if self.source is not None:
            self._tasks.append(asyncio.create_task(self.source.run(), name="gateway-read-source"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def reads(self) -> replies.Reads | None:
        """Where the boards come from now (None: one Redis, no replica to watch)."""
        if self.source is None:
            return None
        state = self.source.state
        lag_ms = round(state.lag_s * 1000) if state.lag_s is not None else None
        return replies.Reads(self.source.reading, state.condition, lag_ms)

    # -- clients -----------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        self.subscriptions.add_client(client)

    def remove_client(self, client: Client) -> None:
        self.subscriptions.remove_client(client)

    def subscribe(self, client: Client, sub_id: str, spec: Spec) -> None:
        """Add (or replace) a subscription; its snapshot follows now or after the next read."""
        if not self.subscriptions.subscribe(client, sub_id, spec):
            self.ticker.request()

    def unsubscribe(self, client: Client, sub_id: str) -> bool:
        return self.subscriptions.unsubscribe(client, sub_id)

    def resync(self, client: Client, sub_id: str | None) -> None:
        self.subscriptions.resync(client, sub_id)

    # -- notices and periodic jobs -----------------------------------------------------------

    def on_notification(self, raw: str | bytes) -> None:
        noticed = self.notices.accept(raw)
        if noticed is not None and (noticed.boards or noticed.new_day):
            self.ticker.request(noticed.boards)

    async def _refresher(self) -> None:
        """Re-read the watched boards now and then, in case a notice was lost."""
        while True:
            await asyncio.sleep(self.settings.gateway_refresh_seconds)
            self.ticker.request()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_heartbeat_seconds)
            if self.clients:
                self.subscriptions.broadcast(self.heartbeat())

    def heartbeat(self) -> str:
        return replies.encode(
            replies.Heartbeat(
                server_ms=now_ms(),
                day=self.day,
                feed=self.notices.feed.times(),
                listening=self.listening,
                boards={name: f.times() for name, f in sorted(self.boards.items())},
                feed_link=self.feed_link.link if self.feed_link is not None else None,
                reads=self.reads(),
            )
        )
