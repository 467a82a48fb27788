"""The news poller: Massive has no news WebSocket, so the bridge polls ``/v2/reference/news``
and publishes each new article once, as a CloudEvent ``dev.stampede.news.v1`` (id = the
article id, data = Massive's article object), on its own JetStream stream ``STAMPEDE_NEWS``.

- It asks for what was published after the newest article it has seen (``published_utc.gt``,
  ``order=asc``), following ``next_url``, every ``BRIDGE_NEWS_POLL_SECONDS`` from 04:00 to
  20:00 ET on trading days and every ``BRIDGE_NEWS_IDLE_POLL_SECONDS`` otherwise (always the
  short interval when ``BRIDGE_MARKET_HOURS_ONLY`` is off, as under ``stampede up``).
- It starts from the feed's midnight (ET, ``serverTime`` of ``/v1/marketstatus/now``, so the
  simulator's clock locally), or after a restart from the newest article already on the
  stream (less the overlap): today's article count is whole, and a restart does not send the
  day again. That first poll is the catch-up: its articles go out ``BRIDGE_NEWS_HISTORY_BATCH`` (100) to a
  CloudEvent ``dev.stampede.news.history.v1`` (an array of articles) on
  ``stampede.news.history``, which the dispatcher delivers on a lane
  of its own (Trigger ``news-history``, one request at a time), so thousands of old articles
  never queue in front of the live feed (at 13:00 ET: ~3,000 single requests before). Later
  polls publish each new article alone, as it comes. Each poll re-asks
  a short overlap, because articles are sometimes indexed after later ones. An article never
  goes out twice: the poller remembers the ids inside the overlap, JetStream de-duplicates on
  ``Nats-Msg-Id`` = article id, and the ``news`` function is idempotent on the id for the day.
- A bad answer (401, 429, 5xx, broken JSON) is retried by the shared client or waited out until
  the next poll; an article with wrong types is skipped; each is counted and logged once. The
  feed and the bridge carry on whatever REST does. Nothing is lost while NATS is away: the
  cursor only moves past an article JetStream acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec
import nats.errors
from cloudevents.core.formats.json import JSONFormat
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from prometheus_client import CollectorRegistry, Counter

from stampede import signing
from stampede.bridge.envelope import MSG_ID_HEADER, signing_key
from stampede.bridge.schedule import feed_window
from stampede.bridge.settings import BridgeSettings
from stampede.events import NEWS_HISTORY_TYPE, NEWS_TYPE, RawJSONFormat, news_event
from stampede.markettime import ET
from stampede.massive_rest import MassiveAuthError, MassiveError, MassiveRest
from stampede.nats_binding import NATSMessage, from_nats, to_binary, to_structured
from stampede.news import Article, BadArticle, parse_article
from stampede.settings import public_url
from stampede.subjects import NEWS_STREAM, news_history_subject, news_subject, news_subjects

log = logging.getLogger(__name__)
NEWS_PATH = "/v2/reference/news"


def news_stream(settings: BridgeSettings) -> StreamConfig:
    """Articles are few and matter all day: kept on file for a day, de-duplicated by id."""
    return StreamConfig(
        name=NEWS_STREAM,
        subjects=news_subjects(),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=settings.bridge_news_max_age,
        duplicate_window=settings.bridge_news_max_age,
        num_replicas=settings.bridge_stream_replicas,  # as the market streams, on a cluster
    )


class PublishFailed(RuntimeError):
    """JetStream did not take an article; the next poll offers it again (nothing is lost)."""


class NewsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "stampede_bridge_news_published_total",
            "News articles published as CloudEvents (each once).",
            registry=registry,
        )
        self.duplicates = Counter(
            "stampede_bridge_news_duplicates_total",
            "News articles sent that JetStream already had (a restart's overlap re-read).",
            registry=registry,
        )
        self.polls = Counter(
            "stampede_bridge_news_polls_total",
            "News polls, by outcome (ok, failed, unauthorized).",
            ["outcome"],
            registry=registry,
        )
        self.problems = Counter(
            "stampede_bridge_news_problems_total",
            "Bad REST answers or articles met by the news poller, by kind.",
            ["kind"],
            registry=registry,
        )


class NewsPoller:
    def __init__(
        self,
        settings: BridgeSettings,
        jetstream: Callable[[], JetStreamContext | None],
        registry: CollectorRegistry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._jetstream = jetstream
        self.clock = clock
        self.metrics = NewsMetrics(registry)
        self.rest = MassiveRest(
            settings.massive_rest_url,
            settings.massive_api_key.get_secret_value(),
            timeout=settings.bridge_news_timeout,
            rate=settings.bridge_news_requests_per_second,
            attempts=3,
            backoff_max=settings.bridge_news_poll_seconds * 4,
            on_problem=lambda kind: self.metrics.problems.labels(kind).inc(),
            logger=log,
        )
        self.source = public_url(settings.massive_rest_url) + NEWS_PATH
        self.cursor: datetime | None = None  # publication time of the newest article seen
        self.caught_up = False  # the first poll (the day so far) went out in pages
        self.recent: dict[str, datetime] = {}  # ids published within the overlap
        self.last_problem = ""
        self._ttl = settings.bridge_broker_ttl
        self._key = signing_key(settings)

    async def close(self) -> None:
        await self.rest.close()

    def interval(self) -> float:
        """Seconds until the next poll: short while the market window is open."""
        s = self.settings
        if not s.bridge_market_hours_only or feed_window(self.clock()).open:
            return s.bridge_news_poll_seconds
        return s.bridge_news_idle_poll_seconds

    async def run(self, ready: asyncio.Event) -> None:
        """Poll until cancelled; REST or NATS trouble is counted, never raised."""
        while True:
            await ready.wait()
            try:
                await self.poll()
                self.metrics.polls.labels("ok").inc()
                self.last_problem = ""
            except MassiveAuthError as exc:  # the key is wrong: ask again, but rarely
                self.metrics.polls.labels("unauthorized").inc()
                self.last_problem = str(exc)
                await asyncio.sleep(self.settings.bridge_news_idle_poll_seconds)
                continue
            except (MassiveError, PublishFailed) as exc:
                self.metrics.polls.labels("failed").inc()
                self.last_problem = str(exc)
            await asyncio.sleep(self.interval())

    async def poll(self) -> int:
        """One poll: publish every article not seen yet; how many were published."""
        if self.cursor is None:
            day = await self.rest.today()
            midnight = datetime.combine(day, time(0), ET).astimezone(UTC)
            resumed = await self.newest_in_stream()
            self.cursor = max(midnight, resumed) if resumed else midnight
        overlap = timedelta(seconds=self.settings.bridge_news_overlap_seconds)
        params: dict[str, Any] = {
            "published_utc.gt": (self.cursor - overlap).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "order": "asc",
            "sort": "published_utc",
            "limit": self.settings.bridge_news_page_size,
        }
        published = 0
        async for page in self.rest.pages(NEWS_PATH, params):
            new: list[tuple[Article, dict[str, Any]]] = []
            for raw in page.results:
                try:
                    article = parse_article(raw)
                except BadArticle as exc:
                    self.rest.problem("bad_article", str(exc))
                    continue
                if article.id not in self.recent:
                    new.append((article, raw))
            if not self.caught_up:  # the day so far: in pages, on the catch-up lane
                size = self.settings.bridge_news_history_batch
                for i in range(0, len(new), size):
                    chunk = new[i : i + size]
                    await self._send(*self.history_message(chunk), articles=len(chunk))
            for article, raw in new:
                if self.caught_up:
                    await self._send(*self.message(article, raw), articles=1)
                published += 1
                self.recent[article.id] = article.published
                self.cursor = max(self.cursor, article.published)
        self.caught_up = True
        horizon = self.cursor - overlap
        self.recent = {i: t for i, t in self.recent.items() if t >= horizon}
        return published

    async def newest_in_stream(self) -> datetime | None:
        """When the newest article already on STAMPEDE_NEWS was published: a restart resumes
        there (less the overlap) instead of sending the whole day again (None: nothing there,
        or NATS not reachable yet)."""
        js = self._jetstream()
        if js is None:
            return None
        newest: datetime | None = None
        for subject in (news_subject(), news_history_subject()):
            try:
                last = await js.get_last_msg(NEWS_STREAM, subject)
                event = from_nats(
                    NATSMessage(last.headers or {}, last.data or b""), RawJSONFormat()
                )
                data = event.get_data()
                raws = json.loads(data) if isinstance(data, bytes | str) else data
                for raw in raws if isinstance(raws, list) else [raws]:
                    published = parse_article(raw).published
                    newest = published if newest is None else max(newest, published)
            except (nats.errors.Error, TimeoutError, ValueError, BadArticle) as exc:
                log.debug("no resume point on %s: %s", subject, exc)
        return newest

    async def _send(
        self, subject: str, headers: dict[str, str], payload: bytes, *, articles: int
    ) -> None:
        js = self._jetstream()
        if js is None:
            raise PublishFailed("NATS is not connected")
        try:
            ack = await js.publish(
                subject, payload, headers=headers, timeout=self.settings.bridge_ack_timeout
            )
        except (nats.errors.Error, TimeoutError) as exc:
            raise PublishFailed(f"publishing an article failed: {type(exc).__name__}") from exc
        if ack.duplicate:
            self.metrics.duplicates.inc(articles)
        else:
            self.metrics.published.inc(articles)

    def message(self, article: Article, raw: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
        """The article as a CloudEvent on NATS, in the bridge's content mode (the SDK's event
        and our NATS binding: articles are few, so the batch fast path is not needed)."""
        return self._encode(article.id, raw, news_subject())

    def history_message(
        self, page: list[tuple[Article, dict[str, Any]]]
    ) -> tuple[str, dict[str, str], bytes]:
        """A page of the day's history as one CloudEvent (id: a hash of its article ids)."""
        digest = hashlib.blake2b(digest_size=16)
        for article, _ in page:
            digest.update(article.id.encode() + b"\0")
        raws = [raw for _, raw in page]
        return self._encode(digest.hexdigest(), raws, news_history_subject(), NEWS_HISTORY_TYPE)

    def _encode(
        self, event_id: str, data: Any, subject: str, event_type: str = NEWS_TYPE
    ) -> tuple[str, dict[str, str], bytes]:
        if self.settings.bridge_content_mode == "structured":
            event = news_event(
                event_id,
                data,
                self.source,
                time=self.clock(),
                broker_ttl=self._ttl,
                event_type=event_type,
            )
            message = to_structured(event, JSONFormat())
        else:
            event = news_event(
                event_id,
                msgspec.json.encode(data),
                self.source,
                time=self.clock(),
                broker_ttl=self._ttl,
                event_type=event_type,
            )
            message = to_binary(event, RawJSONFormat())
        headers = {**message.headers, MSG_ID_HEADER: event_id}
        if self._key:
            headers[signing.HEADER] = signing.sign(
                self._key, event_id, event_type, self.source, message.payload
            )
        return subject, headers, message.payload
