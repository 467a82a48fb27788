"""news function: one article (``dev.stampede.news.v1``, from the bridge's news poller) per
CloudEvent, or a page of the day's history (``dev.stampede.news.history.v1``, an array of
articles, on the catch-up lane), onto its tickers' rows (``news_ms``, ``news_count``, ``headline``, publisher, URL,
sentiment), their news lists (``sp:{day}:news:{SYM}``) and the ``news`` board (latest
catalysts first).

It commits like the market functions: the article is split by its tickers' shards, each part
goes to the shared group commit (``commit.py``) and every group is one ``news.lua`` call per
shard behind the shared ``seen.lua`` markers (``lua.py``), so concurrent articles share a call
and a redelivered one changes nothing. An article's marker is its own id whichever way it came
(alone or in a history page), so it counts once either way. The markers are namespaced (``seen:news:{id}``: an
article id is not a bridge batch id) and kept for the whole day, so an article the poller
re-reads after a restart is never counted twice. Age checks are off: a late article is still
news, and its time on the row says how old it is. Headlines are third-party text: they are
stored as text (cleaned of control characters and bounded, ``stampede.news``) and never as
markup; a URL that is not http(s) is dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import msgspec

from stampede import keys
from stampede.events import NEWS_HISTORY_TYPE, NEWS_TYPE
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.commit import Flushed, GroupCommit, Part
from stampede.functions.host import BadEvent, Context, Outcome
from stampede.functions.lua import ApplyScript
from stampede.functions.news.scoring import NewsWrite, news_write
from stampede.functions.store import KeyTable, change_notice, current_traceparent
from stampede.markettime import trading_day
from stampede.news import BadArticle, parse_article

BOARD = "news"
BOARDS = (BOARD,)
LIST_SIZE = 50  # articles kept per symbol and day

# (row key index, news list key index, ticker, sentiment ('' = none))
Mention = tuple[int, int, str, str]
# (board key index, published ms, entry JSON, headline, publisher, url, mentions)
ArticleWrite = tuple[int, str, str, str, str, str, list[Mention]]


class NewsCall(msgspec.Struct, array_like=True):
    """ARGV[3] of ``news.lua`` (positional: the Lua side reads ``p[1]``..``p[6]``)."""

    ttl: int
    channel: str
    message: str
    board_size: int
    list_size: int
    articles: list[ArticleWrite]


class News:
    name = "news"
    event_types = frozenset({NEWS_TYPE, NEWS_HISTORY_TYPE})
    checks_age = False
    checks_signature = True
    ctx: Context
    script: ApplyScript
    commit: GroupCommit[NewsWrite]

    async def start(self, ctx: Context) -> None:
        self.ctx = ctx
        self.script = ApplyScript(ctx.redis, Path(__file__).with_name("news.lua"))
        self.commit = GroupCommit(self.flush, ctx.settings.function_commit_max_events)

    async def stop(self) -> None:
        await self.commit.close()

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        try:
            data = json.loads(event.data or b"null")
        except ValueError as exc:
            raise BadEvent(f"not JSON: {exc}") from exc
        if event.type == NEWS_HISTORY_TYPE:
            if not isinstance(data, list):
                raise BadEvent("a news history page is a JSON array of articles")
            raws = data
        else:
            raws = [data]
        writes: list[tuple[str, NewsWrite]] = []  # (article id, its write)
        bad = 0
        for raw in raws:
            try:
                article = parse_article(raw)
            except BadArticle as exc:
                if event.type == NEWS_TYPE:
                    raise BadEvent(f"not a news article: {exc}") from exc
                bad += 1  # one bad article of a page: the others still count
                continue
            write = news_write(article)
            if write is not None:
                writes.append((article.id if event.type == NEWS_HISTORY_TYPE else event.id, write))
        detail: dict[str, object] = {"bad_articles": bad} if bad else {}
        if not writes:
            return Outcome("ignored", events=len(raws), detail={"reason": "no ticker", **detail})
        received_ms = event.time_ms or int(time.time() * 1000)
        traceparent = current_traceparent()
        results = await asyncio.gather(
            *(
                self.commit.submit(
                    shard, Part(article_id, [part], write.published_ms, received_ms, traceparent)
                )
                for article_id, write in writes
                for shard, part in by_shard(write, ctx.settings.redis_shards).items()
            )
        )
        applied = [r for r in results if r.applied]
        if not applied:  # every shard had every article already
            return Outcome("duplicate", events=len(raws))
        return Outcome(
            "applied",
            events=len(raws),
            boards=BOARDS,
            exchange_ms=max(w.published_ms for _, w in writes),
            detail={
                "articles": len(writes),
                "tickers": sum(len(w.tickers) for _, w in writes),
                "headlines": sum(r.changed for r in applied),  # of the group(s) it went in
                "group": max(r.group for r in applied),
                **detail,
            },
        )

    async def flush(self, shard: int, parts: list[Part[NewsWrite]]) -> Flushed:
        """Every article of the group onto the rows, lists and board of ``shard``."""
        seen = [keys.seen(trading_day(p.exchange_ms), f"news:{p.event_id}", shard) for p in parts]
        table = KeyTable(len(seen))
        shards = self.ctx.settings.redis_shards
        articles: list[ArticleWrite] = []
        for w in (w for p in parts for w in p.events):
            mentions: list[Mention] = [
                (table(keys.row(w.day, t, shards)), table(keys.news(w.day, t, shards)), t, s)
                for t, s in zip(w.tickers, w.sentiments)
            ]
            board = table(keys.board(w.day, BOARD, shard))
            articles.append(
                (board, str(w.published_ms), w.entry, w.headline, w.publisher, w.url, mentions)
            )
        call = NewsCall(
            ttl=keys.DAY_TTL_SECONDS,
            channel=keys.CHANGES_CHANNEL,
            message=change_notice(parts, BOARDS, max(w.day for p in parts for w in p.events)),
            board_size=self.ctx.settings.function_board_size,
            list_size=LIST_SIZE,
            articles=articles,
        )
        with self.ctx.redis_apply():
            return await self.script(seen, keys.DAY_TTL_SECONDS, table.keys, call, BOARDS)


def by_shard(write: NewsWrite, shards: int) -> dict[int, NewsWrite]:
    """The article restricted to the tickers of each symbol shard."""
    split: dict[int, list[tuple[str, str]]] = {}
    for ticker, sentiment in zip(write.tickers, write.sentiments):
        split.setdefault(keys.shard_of(ticker, shards), []).append((ticker, sentiment))
    return {
        shard: dataclasses.replace(
            write, tickers=tuple(t for t, _ in pairs), sentiments=tuple(s for _, s in pairs)
        )
        for shard, pairs in split.items()
    }


def new() -> News:
    return News()
