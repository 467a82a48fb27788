"""The daily part of the load: grouped daily bars of past sessions and the profile proxy's
minute bars (the REST client, with its pacing and retries, is ``stampede.massive_rest``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from stampede.massive_rest import MassiveRest


async def grouped_daily(rest: MassiveRest, session: date) -> list[dict[str, Any]]:
    answer = await rest.get(
        f"/v2/aggs/grouped/locale/us/market/stocks/{session.isoformat()}", {"adjusted": "true"}
    )
    results: list[dict[str, Any]] = (answer or {}).get("results") or []
    return results


async def minute_bars(
    rest: MassiveRest, ticker: str, start: date, end: date
) -> list[dict[str, Any]]:
    """All minute bars of a ticker between two dates, following ``next_url`` pages."""
    url = f"/v2/aggs/ticker/{ticker}/range/1/minute/{start.isoformat()}/{end.isoformat()}"
    bars: list[dict[str, Any]] = []
    async for page in rest.pages(url, {"adjusted": "true", "sort": "asc", "limit": 50000}):
        bars += page.results
    return bars
