"""The bridge's news poller against the real simulator and nats-server: every article the
simulator publishes goes out on STAMPEDE_NEWS, the day so far in history pages
(``dev.stampede.news.history.v1``, at most BRIDGE_NEWS_HISTORY_BATCH articles each) and later
ones alone (``dev.stampede.news.v1``, each once), and bad REST answers never stop it or the
feed."""

from __future__ import annotations

import json

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from stampede import nats_binding
from stampede.bridge.settings import BridgeSettings
from stampede.events import NEWS_HISTORY_TYPE, NEWS_TYPE, RawJSONFormat
from stampede.sim.testing import running_simulator
from stampede.subjects import NEWS_STREAM, news_history_subject, news_subject
from support.bridge import bridge_settings, metric, running_bridge, wait_for

DAY = "2025-03-14"


async def stream_articles(nats_url: str) -> list[tuple[dict[str, str], bytes, str]]:
    """(headers, payload, subject) of every message in STAMPEDE_NEWS."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(NEWS_STREAM)).state.messages
        sub = await js.pull_subscribe(
            "",
            stream=NEWS_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        out: list[tuple[dict[str, str], bytes, str]] = []
        while len(out) < total:
            for msg in await sub.fetch(min(500, total - len(out)), timeout=5):
                out.append((msg.headers or {}, msg.data, msg.subject))
        return out
    finally:
        await nc.close()


async def stored(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(NEWS_STREAM)).state.messages
    except nats.js.errors.NotFoundError:
        return 0
    finally:
        await nc.close()


def news_settings(nats_url: str, sim, **overrides: object) -> BridgeSettings:
    """A bridge polling the simulator's news five times a second."""
    return bridge_settings(
        nats_url,
        sim.ws_url,
        sim.api_key,
        massive_rest_url=sim.rest_url,
        bridge_news=True,
        bridge_news_poll_seconds=0.2,
        **overrides,
    )


def published_ids(sim) -> list[str]:
    return [a.doc["id"] for a in sim.news.published(sim.clock.now_ms())]


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_every_article_goes_out_once_even_across_restarts(nats_url: str, mode: str) -> None:
    async with running_simulator(date=DAY, start="07:00", speed=20, symbols=300, seed=4) as sim:
        settings = news_settings(
            nats_url,
            sim,
            bridge_news_page_size=250,  # the day so far takes several pages
            bridge_content_mode=mode,
        )
        async with running_bridge(settings) as bridge:
            await wait_for(lambda: stored(nats_url), what="first articles")
            await wait_for(
                lambda: metric(bridge, "stampede_bridge_news_published_total") > 900,
                what="the articles since midnight",
            )
        async with running_bridge(settings) as again:  # a restart resumes from the stream
            await wait_for(
                lambda: metric(again, "stampede_bridge_news_polls_total", outcome="ok") >= 3,
                what="polls after the restart",
            )
            # it re-read only the overlap, not the 900+ articles since midnight
            resent = metric(again, "stampede_bridge_news_duplicates_total")
        sim.feed.stop()
        expected = published_ids(sim)
        messages = await stream_articles(nats_url)
    events = [
        nats_binding.from_nats(nats_binding.NATSMessage(h, p), RawJSONFormat())
        for h, p, _ in messages
    ]
    assert all(h.get("Nats-Msg-Id") == e.get_id() for (h, _, _), e in zip(messages, events))
    singles = [e for e in events if e.get_type() == NEWS_TYPE]
    pages = [e for e in events if e.get_type() == NEWS_HISTORY_TYPE]
    assert len(singles) + len(pages) == len(events)
    subjects = {e.get_type(): subject for e, (_, _, subject) in zip(events, messages)}
    assert subjects == {NEWS_TYPE: news_subject(), NEWS_HISTORY_TYPE: news_history_subject()}
    ids = [e.get_id() for e in singles]
    assert len(ids) == len(set(ids))  # each live article once, whatever the restart re-read
    history = [_data(e) for e in pages]
    # the day so far (900+ articles by 07:00 at 20x) came in pages of at most 100, not alone
    assert len(pages) >= 9 and max(len(page) for page in history) == 100
    sent = ids + [article["id"] for page in history for article in page]
    seen = set(sent)
    assert seen <= set(expected) and len(seen) >= len(expected) - 30  # the last poll's lag
    # the restart resumed from the newest article on the stream (less the overlap), not from
    # midnight: the day was not sent twice
    assert len(sent) < 1.5 * len(seen), (len(sent), len(seen))
    assert resent < 300, resent


def _data(event) -> list[dict]:
    data = event.get_data()
    return json.loads(data) if isinstance(data, bytes | str) else data


def _article_ids(event) -> list[str]:
    """The articles a CloudEvent carries: itself, or each of a history page."""
    if event.get_type() == NEWS_HISTORY_TYPE:
        return [article["id"] for article in _data(event)]
    return [event.get_id()]


async def test_bad_answers_are_counted_and_polling_goes_on(nats_url: str) -> None:
    async with running_simulator(date=DAY, start="06:00", speed=20, symbols=300, seed=6) as sim:
        sim.rest.faults.arm(
            "news", "500", "truncated", "401", "429", "wrong_type", "500", "500", "500"
        )
        settings = news_settings(
            nats_url,
            sim,
            bridge_news_idle_poll_seconds=0.5,  # the wait after a 401
        )
        async with running_bridge(settings) as bridge:
            await wait_for(
                lambda: (
                    metric(bridge, "stampede_bridge_news_published_total") > 300
                    and metric(bridge, "stampede_bridge_news_polls_total", outcome="failed") >= 1
                    and metric(bridge, "stampede_bridge_news_polls_total", outcome="ok") >= 2
                ),
                what="articles despite the bad answers",
                timeout=40,
            )
            assert (await bridge.readiness())[0]  # the feed never noticed
            problems = {
                kind: metric(bridge, "stampede_bridge_news_problems_total", kind=kind)
                for kind in (
                    "server_error",
                    "bad_json",
                    "unauthorized",
                    "rate_limited",
                    "bad_article",
                )
            }
            failed = metric(bridge, "stampede_bridge_news_polls_total", outcome="failed")
            refused = metric(bridge, "stampede_bridge_news_polls_total", outcome="unauthorized")
        sim.feed.stop()
        expected = set(published_ids(sim))
        ids = [
            article_id
            for h, p, _ in await stream_articles(nats_url)
            for article_id in _article_ids(
                nats_binding.from_nats(nats_binding.NATSMessage(h, p), RawJSONFormat())
            )
        ]
    assert all(v >= 1 for v in problems.values()), problems
    assert failed >= 1 and refused == 1
    assert len(ids) == len(set(ids)) and set(ids) <= expected
