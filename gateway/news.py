"""REST for a symbol's news: ``GET /api/symbols/{sym}/news``, today's articles, newest first.

The ``news`` function keeps them in ``keys.news(day, sym)`` (a sorted set by publication time).
Titles, publishers and URLs are third-party text: served as JSON strings, which the dashboard
renders as text, never as HTML; a URL is only ever an http(s) link (``stampede.news``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from stampede import keys
from stampede.gateway.symbols import checked
from stampede.redisclient import RedisClient


class NewsArticle(BaseModel):
    id: str
    published_ms: int = Field(description="Publication time (Unix ms).")
    published_utc: str
    title: str = Field(description="Third-party text: display as text, never as HTML.")
    publisher: str
    url: str = Field(description="An http(s) link, or empty.")
    tickers: list[str]
    sentiment: str | None = Field(
        None, description="This symbol's sentiment in the article: positive, neutral, negative."
    )


class SymbolNews(BaseModel):
    sym: str
    day: str
    articles: list[NewsArticle]


class _Stored(msgspec.Struct):
    id: str
    published_ms: int
    published_utc: str
    title: str
    publisher: str
    url: str
    tickers: list[str]
    sentiment: dict[str, str] = {}


_decode = msgspec.json.Decoder(_Stored).decode


def news_router(
    redis: Callable[[], RedisClient], current_day: Callable[[], str], authorize: Callable[..., None]
) -> APIRouter:
    """``redis`` gives the client to read with now (the gateway's read source may switch)."""
    router = APIRouter(prefix="/api/symbols", dependencies=[Depends(authorize)])

    @router.get("/{sym}/news", response_model=SymbolNews)
    async def news(
        sym: Annotated[str, Path(description="Ticker, e.g. AAPL.")],
        limit: Annotated[int, Query(ge=1, le=50, description="Most articles returned.")] = 20,
    ) -> SymbolNews:
        """Today's news articles of the symbol, newest first (empty when there is none)."""
        sym, day = checked(sym), current_day()
        try:
            stored = await redis().zrange(keys.news(day, sym), 0, limit - 1, desc=True)
        except (RedisError, OSError) as exc:
            raise HTTPException(503, {"code": "redis_unavailable", "message": str(exc)}) from None
        return SymbolNews(sym=sym, day=day, articles=articles(stored, sym))

    return router


def articles(stored: Iterable[object], sym: str) -> list[NewsArticle]:
    """The stored articles; a garbled entry is skipped, never guessed."""
    out = []
    for raw in stored:
        if not isinstance(raw, str | bytes):
            continue
        try:
            a = _decode(raw)
        except msgspec.DecodeError:
            continue
        out.append(
            NewsArticle(
                id=a.id,
                published_ms=a.published_ms,
                published_utc=a.published_utc,
                title=a.title,
                publisher=a.publisher,
                url=a.url,
                tickers=a.tickers,
                sentiment=a.sentiment.get(sym),
            )
        )
    return out
