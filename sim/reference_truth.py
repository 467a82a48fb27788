"""The reference data and news of the simulated day, and what ``/_sim/truth`` says of them.

Rows of the truth gain the fields a scanner should show beside each ticker (float, shares,
market cap, short interest, the latest headline and today's article count; absent = unknown),
and the truth gains a ``news`` board: tickers by the time of their latest article.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import numpy as np

from stampede.sim.fundamentals import Fundamentals, build_fundamentals
from stampede.sim.model import MarketModel
from stampede.sim.news import NewsFeed, build_news
from stampede.sim.universe import Universe


def reference_data(
    universe: Universe, model: MarketModel, day: date, seed: int
) -> tuple[Fundamentals, NewsFeed]:
    """Fundamentals and news tied to the day's scenario: the movers are mostly low-float names,
    and their news comes seconds before they move."""
    movers = np.zeros(universe.size, dtype=bool)
    movers[[g.sym for g in model.gappers] + [r.sym for r in model.runners]] = True
    fundamentals = build_fundamentals(universe, day, seed, movers)
    news = build_news(
        universe,
        day,
        seed,
        gappers=[(g.sym, g.news_s, g.factor > 1.0) for g in model.gappers],
        runners=[(r.sym, r.start_s) for r in model.runners],
    )
    return fundamentals, news


def add_reference_truth(
    doc: dict[str, Any],
    fundamentals: Fundamentals,
    news: NewsFeed,
    index: dict[str, int],
    now_ms: int,
    limit: int,
) -> None:
    """Add the reference and news fields to the truth's rows, and the ``news`` board."""
    latest = news.truth(now_ms)
    for sym, row in doc["symbols"].items():
        i = index.get(sym)
        if i is not None:
            row.update(fundamentals.truth(i))
        if sym in latest:
            row.update(dataclasses.asdict(latest[sym]))
    ranked = sorted(latest.items(), key=lambda item: (-item[1].news_ms, item[0]))
    if limit > 0:
        ranked = ranked[:limit]
    doc["boards"]["news"] = [{"sym": sym, "value": float(n.news_ms)} for sym, n in ranked]
    doc["news_published"] = len(news.published(now_ms))
