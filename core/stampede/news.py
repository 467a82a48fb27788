"""A news article as Massive's ``/v2/reference/news`` returns it, checked before use.

Articles are third-party text: the title, publisher and URL are kept as plain strings (the
gateway serves them as JSON text, the dashboard renders them as text, never as HTML), bounded in
length, stripped of control characters, and a URL is kept only when it is ``http(s)``. Tickers
must look like tickers. Anything else makes the article a :class:`BadArticle` (skipped, counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_TITLE = 300
MAX_TEXT = 200
MAX_URL = 2048
MAX_TICKERS = 50
TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
SENTIMENTS = frozenset({"positive", "neutral", "negative"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class BadArticle(ValueError):
    """An article without a usable id, time, title or tickers, or with fields of wrong types."""


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    published: datetime
    title: str
    tickers: tuple[str, ...]
    publisher: str = ""
    url: str = ""
    sentiment: dict[str, str] | None = None  # ticker -> positive | neutral | negative

    @property
    def published_ms(self) -> int:
        return int(self.published.timestamp() * 1000)


def clean_text(value: object, limit: int) -> str:
    """Untrusted text as a bounded single line (no control characters)."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub(" ", value).strip()[:limit]


def safe_url(value: object) -> str:
    """The URL when it is a plain http(s) link; otherwise nothing (never ``javascript:``)."""
    if not isinstance(value, str) or len(value) > MAX_URL:
        return ""
    text = value.strip()
    return text if re.match(r"^https?://[^\s\"'<>]+$", text) else ""


def parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise BadArticle(f"published_utc must be a string, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadArticle(f"published_utc is not a timestamp: {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_article(raw: Any) -> Article:
    if not isinstance(raw, dict):
        raise BadArticle("an article must be an object")
    ident = raw.get("id")
    if not isinstance(ident, str) or not 0 < len(ident) <= 200:
        raise BadArticle("id must be a non-empty string")
    published = parse_time(raw.get("published_utc"))
    title = clean_text(raw.get("title"), MAX_TITLE)
    if not title:
        raise BadArticle(f"article {ident[:20]}: no title")
    tickers = raw.get("tickers")
    if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
        raise BadArticle(f"article {ident[:20]}: tickers must be a list of strings")
    kept = tuple(dict.fromkeys(t for t in tickers if TICKER.match(t)))[:MAX_TICKERS]
    publisher = raw.get("publisher")
    sentiment: dict[str, str] = {}
    insights = raw.get("insights")
    if isinstance(insights, list):
        for insight in insights:
            if isinstance(insight, dict) and insight.get("sentiment") in SENTIMENTS:
                ticker = insight.get("ticker")
                if isinstance(ticker, str) and ticker in kept:
                    sentiment[ticker] = insight["sentiment"]
    return Article(
        id=ident,
        published=published,
        title=title,
        tickers=kept,
        publisher=clean_text(publisher.get("name"), MAX_TEXT)
        if isinstance(publisher, dict)
        else "",
        url=safe_url(raw.get("article_url")),
        sentiment=sentiment,
    )
