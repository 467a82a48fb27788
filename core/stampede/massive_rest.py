"""A careful client of Massive's REST API, shared by the reference-data loader and the bridge's
news poller (both read Massive with the same key and under the same plan limits).

Massive answers a plan's rate limit with 429, a bad key with 401/403, its own trouble with 5xx,
and now and then a body that is not the JSON it should be. So every GET here:

- first waits for its slot under a requests-per-second cap (paid plans should stay under 100/s);
- retries 429, 5xx, network errors and undecodable bodies with exponential backoff and jitter
  (a ``Retry-After`` header, when sent, is honoured), up to ``attempts`` tries;
- raises :class:`MassiveAuthError` at once on 401/403 (retrying a refused key only burns quota);
- answers ``None`` for 404 (no such data for this ticker: a fact, not a failure);
- counts each problem through ``on_problem(kind)`` and logs each kind once.

``next_url`` is followed as the official client follows it: its path and query on *our* base URL,
so the key never travels to a host that a response names.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from stampede.logonce import LogOnce
from stampede.markettime import ET

log = logging.getLogger(__name__)

RETRIED_STATUS = frozenset({408, 413, 429, 499, 500, 502, 503, 504})
MAX_PAGES = 10_000  # a runaway next_url chain ends here


class MassiveError(RuntimeError):
    """Massive REST did not answer usefully, even after retries."""


class MassiveAuthError(MassiveError):
    """Massive refused the API key (401/403): the key must be fixed, retrying will not help."""


class RateLimiter:
    """At most ``rate`` requests per second, evenly spaced (no burst to trip a plan's limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self._next = 0.0

    async def acquire(self) -> None:
        now = self.clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass(frozen=True, slots=True)
class Page:
    results: list[Any]
    next_url: str | None  # path and query of the next page; None on the last


def relative(next_url: str) -> str:
    """The path and query of a ``next_url``, whatever host it names."""
    parts = urlsplit(next_url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class MassiveRest:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        rate: float,
        attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        on_problem: Callable[[str], None] = lambda kind: None,
        logger: logging.Logger = log,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        )
        self.limiter = RateLimiter(rate)
        self.attempts = attempts
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._count = on_problem
        self._log_once = LogOnce(logger)

    async def close(self) -> None:
        await self._client.aclose()

    def problem(self, kind: str, message: str) -> None:
        """Count a problem; log the first of its kind."""
        self._count(kind)
        self._log_once(kind, "massive rest: %s: %s (further ones are only counted)", kind, message)

    async def get(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The JSON object at ``url`` (a path, with or without a query); None when 404."""
        where = url.split("?")[0]
        last, hint = "no attempt", None
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self._delay(attempt, hint))
            await self.limiter.acquire()
            hint = None
            try:
                answer = await self._client.get(url, params=params)
            except httpx.HTTPError as exc:
                last = f"GET {where} failed: {type(exc).__name__}"
                self.problem("network", last)
                continue
            status = answer.status_code
            if status == 404:
                return None
            if status == 200:
                try:
                    doc = answer.json()
                except ValueError:
                    doc = None
                if isinstance(doc, dict):
                    return doc
                last = f"GET {where} answered 200 with a body that is not a JSON object"
                self.problem("bad_json", last)
                continue
            last = f"GET {where} answered {status}: {answer.text[:200]}"
            if status in (401, 403):
                self.problem("unauthorized", last)
                raise MassiveAuthError(last)
            if status not in RETRIED_STATUS:
                self.problem("bad_status", last)
                raise MassiveError(last)
            self.problem("rate_limited" if status == 429 else "server_error", last)
            hint = _retry_after(answer)
        raise MassiveError(f"{last} (after {self.attempts} attempts)")

    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(hint, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def pages(self, url: str, params: dict[str, Any] | None = None) -> AsyncIterator[Page]:
        """Every page of a list endpoint, following ``next_url``; a page's ``next_url`` is
        where to resume after a failure."""
        for _ in range(MAX_PAGES):
            doc = await self.get(url, params)
            if doc is None:
                return
            results = doc.get("results")
            if results is not None and not isinstance(results, list):
                self.problem("bad_json", f"GET {url.split('?')[0]}: results is not a list")
                raise MassiveError(f"GET {url.split('?')[0]}: results is not a list")
            next_url = doc.get("next_url")
            following = relative(next_url) if isinstance(next_url, str) and next_url else None
            yield Page(results or [], following)
            if following is None:
                return
            url, params = following, None

    async def server_time(self) -> datetime:
        """The feed's clock: ``serverTime`` of ``/v1/marketstatus/now`` (the simulator's
        simulated clock locally)."""
        status = await self.get("/v1/marketstatus/now") or {}
        try:
            return datetime.fromisoformat(status["serverTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MassiveError(f"marketstatus/now without a usable serverTime: {status}") from exc

    async def today(self) -> date:
        """The feed's trading date (``serverTime`` in ET)."""
        return (await self.server_time()).astimezone(ET).date()


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
