"""A news article is third-party input: checked, bounded and cleaned before anyone uses it."""

from __future__ import annotations

import pytest

from stampede.news import BadArticle, parse_article

ARTICLE = {
    "id": "abc123",
    "publisher": {"name": "Benzinga", "homepage_url": "https://www.benzinga.com/"},
    "title": 'Acme <b>Soars</b> & "Jumps"\x07 After FDA Nod',
    "published_utc": "2025-03-14T12:00:05Z",
    "article_url": "https://www.benzinga.com/news/acme",
    "tickers": ["ACME", "BETA", "not a ticker", "ACME"],
    "insights": [
        {"ticker": "ACME", "sentiment": "positive", "sentiment_reasoning": "good"},
        {"ticker": "BETA", "sentiment": "bullish"},  # not one of Massive's three values
    ],
}


def test_an_article_keeps_its_text_as_text_and_only_plain_links() -> None:
    article = parse_article(ARTICLE)
    assert article.title == 'Acme <b>Soars</b> & "Jumps"  After FDA Nod'  # no control chars
    assert article.tickers == ("ACME", "BETA")  # deduplicated, only ticker-shaped
    assert article.sentiment == {"ACME": "positive"}
    assert article.publisher == "Benzinga" and article.url.startswith("https://")
    assert article.published_ms == 1741953605000
    for url in ("javascript:alert(1)", 'https://x.test/"><script>', "ftp://x.test/a"):
        assert parse_article({**ARTICLE, "article_url": url}).url == ""
    assert len(parse_article({**ARTICLE, "title": "x" * 5000}).title) == 300


@pytest.mark.parametrize(
    "change",
    [
        {"id": 5},
        {"id": ""},
        {"published_utc": 1741953605},
        {"published_utc": "yesterday"},
        {"title": ["a"]},
        {"tickers": "ACME"},
        {"tickers": [1, 2]},
    ],
)
def test_wrong_types_make_a_bad_article(change: dict) -> None:
    with pytest.raises(BadArticle):
        parse_article({**ARTICLE, **change})
