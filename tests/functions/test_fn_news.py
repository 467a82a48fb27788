"""The news function over real HTTP and Redis: rows, the news board, the symbol's news list,
idempotency on the article id (alone, in concurrent group commits and across shards), and older
articles that must not push newer headlines off."""

from __future__ import annotations

import json
import uuid

import redis.asyncio as aioredis

from stampede import keys
from stampede.events import NEWS_HISTORY_TYPE, NEWS_TYPE

DAY = "2025-03-14"
BATCHED = {"content-type": "application/cloudevents-batch+json"}


def article(ident: str, when: str, tickers: list[str], title: str, **extra: object) -> dict:
    return {
        "id": ident,
        "publisher": {"name": "GlobeNewswire Inc."},
        "title": title,
        "published_utc": f"{DAY}T{when}Z",
        "article_url": f"https://www.globenewswire.com/news/{ident}",
        "tickers": tickers,
        "insights": [{"ticker": t, "sentiment": "positive"} for t in tickers[:1]],
        **extra,
    }


def news_event(doc: dict | list, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    """One article, or a history page (a list of articles; then ``event_id`` is needed)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": NEWS_HISTORY_TYPE if isinstance(doc, list) else NEWS_TYPE,
        "ce-source": "/test/v2/reference/news",
        "ce-id": event_id or doc["id"],  # type: ignore[call-overload]
        "content-type": "application/json",
    }
    return headers, json.dumps(doc).encode()


async def test_a_history_page_counts_each_article_once_whichever_way_it_came(
    function_server, http, redis
) -> None:
    """The day so far arrives in pages (the bridge's catch-up): each article counts once, by
    its own id, whether it came alone, in a page, or in two pages after a bridge restart; a bad
    article of a page is skipped and counted, the rest applies; a page that is no array is 400."""
    a0 = article("h0", "09:00:00", ["ACME"], "Acme Opens Plant")
    a1 = article("h1", "09:30:00", ["ACME", "BETA"], "Acme And Beta Merge")
    a2 = article("h2", "10:00:00", ["BETA"], "Beta Guides Higher")
    bad = {"id": "hx", "title": 5}
    async with function_server("news") as url:
        alone = await http.post(url, headers=news_event(a0)[0], content=news_event(a0)[1])
        headers, body = news_event([a0, a1, bad], "page-1")
        page = await http.post(url, headers=headers, content=body)
        headers, body = news_event([a1, a2], "page-2")  # a restart's pages overlap the first
        overlap = await http.post(url, headers=headers, content=body)
        headers, body = news_event([a2], "page-3")
        again = await http.post(url, headers=headers, content=body)
        headers, body = news_event(a1)  # live after all: already counted
        live = await http.post(url, headers=headers, content=body)
        headers, body = news_event({"not": "an array"}, "page-4")
        headers["ce-type"] = NEWS_HISTORY_TYPE
        wrong = await http.post(url, headers=headers, content=body)
    assert alone.json()["status"] == "applied"
    assert page.status_code == 200 and page.json()["status"] == "applied"
    assert page.json()["bad_articles"] == 1 and page.json()["articles"] == 2
    assert overlap.json()["status"] == "applied"
    assert again.json()["status"] == "duplicate" and live.json()["status"] == "duplicate"
    assert wrong.status_code == 400
    acme = await redis.hgetall(keys.row(DAY, "ACME"))
    beta = await redis.hgetall(keys.row(DAY, "BETA"))
    assert (acme["news_count"], beta["news_count"]) == ("2", "2")
    assert acme["headline"] == "Acme And Beta Merge" and beta["headline"] == "Beta Guides Higher"
    listed = [json.loads(m)["id"] for m in await redis.zrange(keys.news(DAY, "BETA"), 0, -1)]
    assert listed == ["h1", "h2"]


async def test_articles_reach_rows_board_and_lists_once(function_server, http, redis) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.CHANGES_CHANNEL)
    first = article("a1", "12:00:05", ["ACME", "BETA"], "Acme <b>Wins</b> & Beta Too")
    later = article("a2", "12:05:00", ["ACME"], "Acme Prices Offering")
    early = article("a0", "11:00:00", ["ACME"], "Acme To Present At Conference")  # indexed late
    async with function_server("news") as url:
        answers = []
        for doc in (first, later, early):
            headers, body = news_event(doc)
            answers.append(await http.post(url, headers=headers, content=body))
        headers, body = news_event(first)  # redelivered (after a bridge restart, say)
        again = await http.post(url, headers=headers, content=body)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["status"] for a in answers] == ["applied", "applied", "applied"]
    assert again.json()["status"] == "duplicate"

    acme = await redis.hgetall(keys.row(DAY, "ACME"))
    assert acme["news_count"] == "3"  # counted once each, the duplicate not at all
    assert acme["headline"] == "Acme Prices Offering"  # the newest, not the last to arrive
    assert int(acme["news_ms"]) == 1741953900000 and acme["news_sentiment"] == "positive"
    assert acme["news_publisher"] == "GlobeNewswire Inc."
    assert acme["news_url"] == "https://www.globenewswire.com/news/a2"
    beta = await redis.hgetall(keys.row(DAY, "BETA"))
    assert beta["headline"] == "Acme <b>Wins</b> & Beta Too"  # stored as the text it is
    assert beta["news_count"] == "1" and "news_sentiment" not in beta
    board = await redis.zrange(keys.board(DAY, "news"), 0, -1, desc=True, withscores=True)
    assert board == [("ACME", 1741953900000.0), ("BETA", 1741953605000.0)]
    listed = [json.loads(m) for m in await redis.zrange(keys.news(DAY, "ACME"), 0, -1, desc=True)]
    assert [m["id"] for m in listed] == ["a2", "a1", "a0"]
    notices = []
    while (message := await pubsub.get_message(timeout=0.5)) is not None:
        if message["type"] == "message":
            notices.append(json.loads(message["data"]))
    assert len(notices) == 3 and all(n["boards"] == ["news"] for n in notices)
    await pubsub.aclose()


async def test_malformed_articles_are_rejected_with_400(function_server, http, redis) -> None:
    async with function_server("news") as url:
        bad = []
        for doc in (
            article("b1", "12:00:00", "ACME", "tickers is a string"),  # type: ignore[arg-type]
            {**article("b2", "12:00:00", ["ACME"], "x"), "published_utc": 5},
            {"not": "an article"},
        ):
            headers, body = news_event(doc, event_id=uuid.uuid4().hex)
            bad.append(await http.post(url, headers=headers, content=body))
        headers, _ = news_event(article("b3", "12:00:00", ["ACME"], "x"))
        truncated = await http.post(url, headers=headers, content=b'{"id": "b3", "ti')
    assert [a.status_code for a in bad + [truncated]] == [400, 400, 400, 400]
    assert await redis.exists(keys.row(DAY, "ACME")) == 0


def batched(*docs: dict) -> bytes:
    """One batched request: its CloudEvents are processed concurrently, so they meet in the
    group commit (a twin is caught there or by seen.lua, whichever call it lands in)."""
    events = [
        {
            "specversion": "1.0",
            "type": NEWS_TYPE,
            "source": "/test/v2/reference/news",
            "id": doc["id"],
            "datacontenttype": "application/json",
            "data": doc,
        }
        for doc in docs
    ]
    return json.dumps(events).encode()


async def dump_all(redis_url: str) -> dict[bytes, bytes]:
    """Every key of the database with its serialized value (a redelivery must change none)."""
    raw = aioredis.from_url(redis_url)
    try:
        return {key: await raw.dump(key) for key in sorted(await raw.keys("*"))}
    finally:
        await raw.aclose()


async def test_a_batched_request_counts_each_article_once(
    function_server, http, redis, redis_url
) -> None:
    a1 = article("g1", "12:00:00", ["ACME", "BETA"], "Acme And Beta Merge")
    a2 = article("g2", "12:01:00", ["ACME"], "Acme Raises Guidance")
    async with function_server("news") as url:
        first = await http.post(url, headers=BATCHED, content=batched(a1, a2, a1))
        before = await dump_all(redis_url)
        again = await http.post(url, headers=BATCHED, content=batched(a2, a1))
        after = await dump_all(redis_url)
    statuses = sorted(r["status"] for r in first.json()["results"])
    assert first.status_code == 200 and statuses == ["applied", "applied", "duplicate"]
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert after == before  # the redelivered group changed nothing at all
    acme = await redis.hgetall(keys.row(DAY, "ACME"))
    assert acme["news_count"] == "2" and acme["headline"] == "Acme Raises Guidance"
    assert (await redis.hgetall(keys.row(DAY, "BETA")))["news_count"] == "1"
    assert await redis.zcard(keys.news(DAY, "ACME")) == 2
    assert await redis.exists(keys.seen(DAY, "news:g1"), keys.seen(DAY, "news:g2")) == 2


async def test_an_article_over_two_shards_is_applied_once_per_shard(
    function_server, http, redis, redis_url
) -> None:
    tickers = ["ACME", "BETA", "CORP", "DYNA", "EXPO"]
    shard = {t: keys.shard_of(t, 2) for t in tickers}
    assert set(shard.values()) == {0, 1}
    doc = article("s1", "12:00:00", tickers, "Sector Rallies")
    async with function_server("news", redis_shards=2) as url:
        headers, body = news_event(doc)
        answer = (await http.post(url, headers=headers, content=body)).json()
        before = await dump_all(redis_url)
        again = (await http.post(url, headers=headers, content=body)).json()
        after = await dump_all(redis_url)
    assert answer["status"] == "applied" and answer["tickers"] == 5
    assert again["status"] == "duplicate" and after == before
    for t in tickers:
        row = await redis.hgetall(keys.row(DAY, t, 2))
        assert row["news_count"] == "1" and row["headline"] == "Sector Rallies", t
    for n in (0, 1):
        board = await redis.zrange(keys.board(DAY, "news", n), 0, -1)
        assert sorted(board) == sorted(t for t in tickers if shard[t] == n)
        assert await redis.exists(keys.seen(DAY, "news:s1", n)) == 1
