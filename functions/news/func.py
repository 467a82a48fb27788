"""news function: one article (``dev.stampede.news.v1``, from the bridge's news poller) per
CloudEvent onto its tickers' rows (``news_ms``, ``news_count``, ``headline``, publisher, URL,
sentiment), their news lists (``sp:{day}:news:{SYM}``) and the ``news`` board (latest
catalysts first), in one Lua call (``news.lua``).

Idempotent on the CloudEvent id (= the article id) for the whole day, so an article the poller
re-reads after a restart is never counted twice. Age checks are off: a late article is still
news, and its time on the row says how old it is. Headlines are third-party text: they are
stored as text (cleaned of control characters and bounded, ``stampede.news``) and never as
markup; a URL that is not http(s) is dropped.
"""

from __future__ import annotations

import json
import time
from importlib import resources

from stampede import changes, keys
from stampede.events import NEWS_TYPE
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.host import BadEvent, Context, Outcome
from stampede.functions.news.scoring import news_write
from stampede.news import BadArticle, parse_article

SCRIPT = (resources.files("stampede.functions.news") / "news.lua").read_text()
BOARD = "news"
LIST_SIZE = 50  # articles kept per symbol and day


class News:
    name = "news"
    event_types = frozenset({NEWS_TYPE})
    checks_age = False

    async def start(self, ctx: Context) -> None:
        self.script = ctx.redis.register_script(SCRIPT)

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        try:
            article = parse_article(json.loads(event.data or b"null"))
        except (ValueError, BadArticle) as exc:
            raise BadEvent(f"not a news article: {exc}") from exc
        write = news_write(article)
        if write is None:
            return Outcome("ignored", events=1, detail={"reason": "no ticker"})
        day = write.day
        notice = changes.ChangeNotice(
            day=day,
            boards=[BOARD],
            exchange_ms=write.published_ms,
            received_ms=event.time_ms or int(time.time() * 1000),
        )
        shards = ctx.settings.redis_shards
        by_shard: dict[int, list[tuple[str, str]]] = {}
        for ticker, sentiment in zip(write.tickers, write.sentiments):
            by_shard.setdefault(keys.shard_of(ticker, shards), []).append((ticker, sentiment))
        applied, headlines = 0, 0
        with ctx.redis_apply():  # one call per shard: each touches only its own slot's keys
            for shard, tickers in sorted(by_shard.items()):
                script_keys = [
                    keys.seen(day, f"news:{event.id}", shard),
                    keys.board(day, BOARD, shard),
                ]
                args: list[str | int] = [
                    keys.DAY_TTL_SECONDS,
                    keys.DAY_TTL_SECONDS,
                    write.published_ms,
                    ctx.settings.function_board_size,
                    LIST_SIZE,
                    keys.CHANGES_CHANNEL,
                    changes.encode(notice).decode(),
                    write.entry,
                    write.headline,
                    write.publisher,
                    write.url,
                ]
                for ticker, sentiment in tickers:
                    script_keys += [keys.row(day, ticker, shards), keys.news(day, ticker, shards)]
                    args += [ticker, sentiment]
                result = int(await self.script(keys=script_keys, args=args))
                applied, headlines = applied + (result > 0), headlines + max(result - 1, 0)
        if not applied:  # every shard had it already
            return Outcome("duplicate", events=1)
        return Outcome(
            "applied",
            events=1,
            boards=(BOARD,),
            exchange_ms=write.published_ms,
            detail={"tickers": len(write.tickers), "headlines": headlines},
        )


def new() -> News:
    return News()
