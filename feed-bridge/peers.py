"""Our feed link on NATS, the other bridges' links heard back, and standing by after an eviction.

Reports go on core NATS (``stampede.bridge.status``, no stream: only the latest matters) every
``BRIDGE_STATUS_INTERVAL`` and at once on every change, so a standby bridge learns within
milliseconds that the holder stopped. The decision itself is ``claims.Claims``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
from nats.aio.msg import Msg

from stampede.bridge.claims import SUBJECT, Claims
from stampede.bridge.link import FeedLink
from stampede.bridge.metrics import BridgeMetrics
from stampede.bridge.publisher import Publisher
from stampede.bridge.settings import BridgeSettings
from stampede.logonce import LogOnce

log = logging.getLogger(__name__)


class Peers:
    def __init__(
        self,
        settings: BridgeSettings,
        link: FeedLink,
        publisher: Publisher,
        metrics: BridgeMetrics,
    ) -> None:
        self.link = link
        self.publisher = publisher
        self.metrics = metrics
        self.interval = settings.bridge_status_interval
        self.claims = Claims(link.instance, settings.bridge_holder_timeout)
        self._changed = asyncio.Event()
        self._log_bad = LogOnce(log)

    def changed(self) -> None:
        """The link changed: report it now rather than at the next interval."""
        self._changed.set()

    async def run(self) -> None:
        """Listen to the other bridges and report ours, until cancelled."""
        nc = self.publisher.nc
        assert nc is not None
        await nc.subscribe(SUBJECT, cb=self._heard)
        while True:
            ready = self.publisher.ready.is_set()
            self.claims.listening(ready, time.time())
            if ready:
                await self._report()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.interval)
            self._changed.clear()

    async def stand_by(self) -> None:
        """Return once no other bridge has claimed the feed for a whole holder timeout."""
        while True:
            now = time.time()
            if self.claims.may_take_over(now):
                return
            self.link.enter("standby", holder=self.claims.holder(now))
            await asyncio.sleep(self.interval)

    async def say_stopped(self) -> None:
        """Last report on a clean stop, so a standby bridge takes the feed without waiting."""
        self.link.enter("stopped")
        if self.publisher.ready.is_set():
            with contextlib.suppress(Exception):
                await self._report()
                assert self.publisher.nc is not None
                await self.publisher.nc.flush(timeout=1)

    async def _report(self) -> None:
        assert self.publisher.nc is not None
        with contextlib.suppress(Exception):  # a report lost in a NATS outage is replaced next
            await self.publisher.nc.publish(SUBJECT, msgspec.json.encode(self.link.to_wire()))

    async def _heard(self, msg: Msg) -> None:
        try:
            self.claims.observe(msg.data, time.time())
        except ValueError as exc:
            self.metrics.peer_reports.labels("bad").inc()
            self._log_bad(
                "bad_report",
                "ignoring a bad feed link report on %s (%s): %.200r; further ones are only counted",
                SUBJECT,
                exc,
                msg.data,
            )
            return
        self.metrics.peer_reports.labels("ok").inc()
