"""The day's news, as Massive's ``/v2/reference/news`` serves it, tied to the simulated market.

- Most pre-market gappers get a headline seconds before their gap (an FDA decision, an
  offering, an earnings beat), and some intraday runners one seconds before their move: news is
  what moves these stocks, and a scanner shows it beside the ticker.
- Around them flows the ordinary wire: about 5,000 articles a day (busiest before the open and
  after the close), most about one ticker (big names more often), some about several.

An article becomes visible once the simulated clock reaches its ``published_utc`` (whole
seconds, one article per second, so "the latest headline" of a ticker is never a tie). Headlines
are third-party text: some carry ``&``, quotes or angle brackets, as real ones do, so a client
that renders them as HTML shows the bug. Everything is seeded by (seed, day).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np

from stampede import markettime
from stampede.sim.universe import Universe

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Massive's published_utc
PUBLISHERS = (
    ("Benzinga", "https://www.benzinga.com/"),
    ("GlobeNewswire Inc.", "https://www.globenewswire.com/"),
    ("PR Newswire", "https://www.prnewswire.com/"),
    ("Business Wire", "https://www.businesswire.com/"),
    ("The Motley Fool", "https://www.fool.com/"),
    ("Zacks Investment Research", "https://www.zacks.com/"),
)
# Articles per hour of the ET day: busiest before the open and after the close.
HOURLY_RATE = (30, 30, 30, 30, 150, 150, 500, 500, 500, 400, 250, 250,
               250, 250, 250, 250, 400, 300, 150, 150, 60, 60, 60, 60)  # fmt: skip
GAP_UP = (
    "{name} Shares Jump Pre-Market After FDA Grants Fast Track Designation",
    "{name} Reports Positive Topline Phase 2 Results; Shares Soar",
    "{name} Q4 EPS Beats Estimate, Sales Up {p}% Year Over Year",
    "{name} To Be Acquired For ${p}.00/Share In Cash",
)
GAP_DOWN = (
    "{name} Prices ${p}M Registered Direct Offering",
    "{name} Shares Fall After Q4 Revenue Miss & Weak Guidance",
    "{name} Announces Proposed Public Offering Of Common Stock",
)
RUN = (
    "{name} Announces ${p}M Share Repurchase Program",
    "{name} Signs Multi-Year Supply Agreement With Fortune 500 Customer",
    "{name} Wins ${p}M Government Contract",
)
WIRE = (
    ("{name} To Present At Upcoming Investor Conference", "neutral"),
    ("Analyst Upgrades {name} To Buy, Raises Price Target To ${p}", "positive"),
    ("Analyst Downgrades {name} To Underperform", "negative"),
    ("{name} Declares Quarterly Dividend", "neutral"),
    ("Here's Why {name} Stock Is Moving Today", "neutral"),
    ('{name} "Strong Buy" <Rating> & More: What Analysts Say', "positive"),
    ("{name} Files 10-Q; Revenue {p}% Lower Than A Year Ago", "negative"),
    ("{count} Stocks Moving In Today's Session", "neutral"),  # a roundup: several tickers
)
REASONS = {
    "positive": "The article reports news investors read as good for the company.",
    "negative": "The article reports news investors read as bad for the company.",
    "neutral": "The article is informational, without a clear effect on the stock.",
}


@dataclass(frozen=True, slots=True)
class Article:
    published_ms: int
    doc: dict[str, Any]  # exactly what the endpoint serves


@dataclass(frozen=True, slots=True)
class TickerNews:
    news_ms: int
    news_count: int
    headline: str


class NewsFeed:
    """All of a day's articles, oldest first; what REST serves is what is published by now."""

    def __init__(self, articles: list[Article]) -> None:
        self.articles = sorted(articles, key=lambda a: a.published_ms)
        self._times = [a.published_ms for a in self.articles]

    def published(self, now_ms: int) -> list[Article]:
        return self.articles[: bisect_right(self._times, now_ms)]

    def truth(self, now_ms: int) -> dict[str, TickerNews]:
        """Per ticker, as of ``now_ms``: latest article time and headline, today's count."""
        out: dict[str, TickerNews] = {}
        for article in self.published(now_ms):
            for ticker in article.doc["tickers"]:
                seen = out.get(ticker)
                count = seen.news_count + 1 if seen else 1
                out[ticker] = TickerNews(article.published_ms, count, article.doc["title"])
        return out


def company_name(symbol: str) -> str:
    suffixes = ("Inc.", "Corp.", "Holdings Inc.", "Therapeutics Inc.", "Technologies Corp.")
    return f"{symbol.title()} {suffixes[sum(map(ord, symbol)) % len(suffixes)]}"


class _Writer:
    """Builds articles one by one, keeping their seconds unique."""

    def __init__(self, universe: Universe, day: date, seed: int, rng: np.random.Generator):
        self.u, self.day, self.seed, self.rng = universe, day, seed, rng
        self.midnight = markettime.et_ms(day, time(0))
        self.taken: set[int] = set()
        self.articles: list[Article] = []

    def add(self, second: int, tickers: list[int], template: str, tone: str, step: int = 1) -> None:
        """One article at ``second``, or the nearest free second in the direction of ``step``
        (a headline that must precede a move looks earlier)."""
        while second in self.taken:
            second += step
        self.taken.add(second)
        rng = self.rng
        symbols = [self.u.symbols[t] for t in tickers]
        title = template.format(
            name=company_name(symbols[0]), p=int(rng.integers(5, 95)), count=len(symbols)
        )
        ident = hashlib.sha256(
            f"{self.seed}:{self.day.isoformat()}:{len(self.articles)}".encode()
        ).hexdigest()
        publisher, home = PUBLISHERS[int(rng.integers(len(PUBLISHERS)))]
        ms = self.midnight + second * 1000
        words = ["".join(c for c in w.lower() if c.isalnum()) for w in title.split()[:8]]
        slug = "-".join(w for w in words if w)
        doc = {
            "id": ident,
            "publisher": {
                "name": publisher,
                "homepage_url": home,
                "logo_url": f"{home}logo.svg",
                "favicon_url": f"{home}favicon.ico",
            },
            "title": title,
            "author": "Newsdesk",
            "published_utc": datetime.fromtimestamp(ms / 1000, UTC).strftime(TIME_FORMAT),
            "article_url": f"{home}news/{self.day.isoformat()}/{slug}-{ident[:8]}",
            "tickers": symbols,
            "image_url": f"{home}images/{ident[:12]}.jpg",
            "description": f"{title}. {REASONS[tone]}",
            "keywords": ["stocks", tone],
            "insights": [
                {"ticker": s, "sentiment": tone, "sentiment_reasoning": REASONS[tone]}
                for s in symbols
            ],
        }
        self.articles.append(Article(ms, doc))


def build_news(
    universe: Universe,
    day: date,
    seed: int,
    gappers: list[tuple[int, int, bool]],
    runners: list[tuple[int, int]],
) -> NewsFeed:
    """The day's articles. ``gappers``: (ticker, ET second of its gap, gapping up?);
    ``runners``: (ticker, ET second its run starts)."""
    rng = np.random.default_rng([seed, 0x4E5, day.toordinal()])
    writer = _Writer(universe, day, seed, rng)
    for sym, second, up in gappers:
        if rng.random() < 0.85:
            templates = GAP_UP if up else GAP_DOWN
            tone = "positive" if up else "negative"
            pick = templates[int(rng.integers(len(templates)))]
            writer.add(second - int(rng.integers(1, 6)), [sym], pick, tone, step=-1)
    for sym, start in runners:
        if rng.random() < 0.6:
            pick = RUN[int(rng.integers(len(RUN)))]
            writer.add(start - int(rng.integers(3, 20)), [sym], pick, "positive", step=-1)
    weight = np.sqrt(universe.adv)
    counts = rng.poisson(HOURLY_RATE)
    pool = iter(rng.choice(universe.size, int(counts.sum()) * 4, p=weight / weight.sum()))
    for hour, count in enumerate(counts):
        for second in np.sort(rng.integers(hour * 3600, (hour + 1) * 3600, count)):
            template, tone = WIRE[int(rng.integers(len(WIRE)))]
            many = "{count}" in template
            wanted = int(rng.integers(5, 11)) if many else (1 if rng.random() < 0.75 else 2)
            tickers = list(dict.fromkeys(int(next(pool)) for _ in range(wanted)))
            if not many:
                tickers = tickers[:wanted]
            writer.add(int(second), tickers, template, tone)
    return NewsFeed(writer.articles)
