"""What one article changes, per ticker: pure, no I/O.

An article names several tickers; each gets, on its row, the article's time as ``news_ms`` and
its headline, publisher, URL and that ticker's sentiment (from ``insights``) - but only if the
article is not older than the one the row already shows (an article indexed late must not push
a newer headline off) - and one more article in today's ``news_count``. "Today" is the ET
trading day of the article's publication time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from stampede.markettime import trading_day
from stampede.news import Article


@dataclass(frozen=True, slots=True)
class NewsWrite:
    day: str
    published_ms: int
    tickers: tuple[str, ...]
    sentiments: tuple[str, ...]  # per ticker, "" when the article has none for it
    headline: str
    publisher: str
    url: str
    entry: str  # the article as the symbol's news list keeps it (JSON)


def news_write(article: Article) -> NewsWrite | None:
    """The write of one article; None when it names no ticker we can show."""
    if not article.tickers:
        return None
    ms = article.published_ms
    sentiment = article.sentiment or {}
    entry = {
        "id": article.id,
        "published_ms": ms,
        "published_utc": article.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": article.title,
        "publisher": article.publisher,
        "url": article.url,
        "tickers": list(article.tickers),
        "sentiment": sentiment,
    }
    return NewsWrite(
        day=trading_day(ms),
        published_ms=ms,
        tickers=article.tickers,
        sentiments=tuple(sentiment.get(t, "") for t in article.tickers),
        headline=article.title,
        publisher=article.publisher,
        url=article.url,
        entry=json.dumps(entry, separators=(",", ":"), sort_keys=True),
    )
