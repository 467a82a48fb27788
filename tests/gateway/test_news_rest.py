"""REST for a symbol's news, as written by the real news function: newest first, text as text."""

from __future__ import annotations

import json

import httpx

from stampede.events import NEWS_TYPE
from support.functions import serve_function
from support.gateway import DAY, running_gateway

TITLE = 'Acme <img src=x onerror="alert(1)"> & Co Soars'


def article(ident: str, hhmmss: str, title: str, url: str) -> tuple[dict[str, str], bytes]:
    doc = {
        "id": ident,
        "publisher": {"name": "Benzinga"},
        "title": title,
        "published_utc": f"{DAY}T{hhmmss}Z",
        "article_url": url,
        "tickers": ["ACME", "BETA"],
        "insights": [{"ticker": "ACME", "sentiment": "negative"}],
    }
    headers = {
        "ce-specversion": "1.0",
        "ce-type": NEWS_TYPE,
        "ce-source": "/test",
        "ce-id": ident,
        "content-type": "application/json",
    }
    return headers, json.dumps(doc).encode()


async def test_news_of_a_symbol_newest_first_served_as_text(redis_url) -> None:
    async with serve_function("news", redis_url) as fn, httpx.AsyncClient() as http:
        for ident, when, title, url in (
            ("n1", "13:00:00", TITLE, "javascript:alert(1)"),
            ("n2", "14:00:00", "Acme Follow-Up", "https://www.benzinga.com/acme"),
        ):
            headers, body = article(ident, when, title, url)
            assert (await http.post(fn, headers=headers, content=body)).status_code == 200
    async with (
        running_gateway(redis_url) as gw,
        httpx.AsyncClient(base_url=gw.url) as http,
    ):
        answer = await http.get("/api/symbols/acme/news")
        beta = (await http.get("/api/symbols/BETA/news", params={"limit": 1})).json()
        none = (await http.get("/api/symbols/ZZZZ/news")).json()
        bad = await http.get("/api/symbols/%3Cscript%3E/news")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    doc = answer.json()
    assert doc["sym"] == "ACME" and doc["day"] == DAY
    assert [a["id"] for a in doc["articles"]] == ["n2", "n1"]
    older = doc["articles"][1]
    assert older["title"] == TITLE  # exactly the text it was, for the page to show as text
    assert older["url"] == ""  # never a javascript: link
    assert older["sentiment"] == "negative" and older["tickers"] == ["ACME", "BETA"]
    assert [a["id"] for a in beta["articles"]] == ["n2"] and beta["articles"][0][
        "sentiment"
    ] is None
    assert none["articles"] == []
    assert bad.status_code == 422
