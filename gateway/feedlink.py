"""The feed bridge's link to Massive, polled for the dashboard (``GET {bridge}/status``).

Board freshness tells a trader *that* data stopped; the link tells *why* and whether it heals
by itself: reconnecting after a silent connection (``ping_timeout``), the feed refusing
connections, standing by after an eviction. The gateway reads it once per heartbeat and hands
it to every client in the heartbeat. A bridge that does not answer is shown as ``unknown``
(logged once per outage, counted), never as a healthy feed.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import msgspec

from stampede.gateway import metrics
from stampede.gateway.replies import FeedLink
from stampede.logonce import LogOnce

log = logging.getLogger(__name__)


class FeedLinkPoller:
    def __init__(self, bridge_url: str, interval: float) -> None:
        self.url = bridge_url.rstrip("/") + "/status"
        self.interval = interval
        self.link = FeedLink(state="unknown", reason="not polled yet")
        self._log = LogOnce(log)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=max(0.5, self.interval)) as http:
            while True:
                self.link = await self._poll(http)
                await asyncio.sleep(self.interval)

    async def _poll(self, http: httpx.AsyncClient) -> FeedLink:
        try:
            answer = await http.get(self.url)
            answer.raise_for_status()
            link = msgspec.json.decode(answer.content, type=FeedLink)
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            metrics.FEED_LINK_POLLS.labels("error").inc()
            problem = f"{type(exc).__name__}: {exc}"
            self._log("unreachable", "feed bridge status %s unusable (%s)", self.url, problem)
            return FeedLink(state="unknown", reason=f"bridge status unusable: {problem}")
        metrics.FEED_LINK_POLLS.labels("ok").inc()
        self._log.reset()
        return link
