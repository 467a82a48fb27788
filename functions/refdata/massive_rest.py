"""The few Massive REST calls the reference-data load needs (async, key as a Bearer token)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx

from stampede.markettime import ET


class MassiveError(RuntimeError):
    """Massive REST did not answer usefully (network, status or payload)."""


class MassiveRest:
    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            answer = await self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise MassiveError(f"GET {url.split('?')[0]} failed: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise MassiveError(
                f"GET {url.split('?')[0]} answered {answer.status_code}: {answer.text[:200]}"
            )
        body: dict[str, Any] = answer.json()  # Massive's REST answers are JSON objects
        return body

    async def today(self) -> date:
        """The feed's trading date: ``serverTime`` of ``/v1/marketstatus/now`` in ET."""
        status = await self._get("/v1/marketstatus/now")
        try:
            return datetime.fromisoformat(status["serverTime"]).astimezone(ET).date()
        except (KeyError, TypeError, ValueError) as exc:
            raise MassiveError(f"marketstatus/now without a usable serverTime: {status}") from exc

    async def grouped_daily(self, session: date) -> list[dict[str, Any]]:
        answer = await self._get(
            f"/v2/aggs/grouped/locale/us/market/stocks/{session.isoformat()}",
            {"adjusted": "true"},
        )
        return answer.get("results") or []

    async def minute_bars(self, ticker: str, start: date, end: date) -> list[dict[str, Any]]:
        """All minute bars of a ticker between two dates, following ``next_url`` pages."""
        url = f"/v2/aggs/ticker/{ticker}/range/1/minute/{start.isoformat()}/{end.isoformat()}"
        params: dict[str, Any] | None = {"adjusted": "true", "sort": "asc", "limit": 50000}
        bars: list[dict[str, Any]] = []
        for _page in range(100):
            answer = await self._get(url, params)
            bars += answer.get("results") or []
            next_url: str | None = answer.get("next_url")
            if not next_url:
                break
            url, params = next_url, None
        return bars
