"""Loading float, ticker overviews and short interest into Redis: paced, resumable, tolerant.

Massive serves float and short interest as paged lists (a few calls for the whole market) and
shares outstanding / market cap one ticker at a time (thousands of calls: minutes under a
plan's rate). So the load keeps its progress in Redis as it goes:

- after each page of a list, the page's values and its ``next_url`` (the resume point) are
  written together; a finished list is marked ``done``;
- overviews are written a chunk at a time; a ticker already in the hash (with figures, or
  marked empty after a 404) is not asked again.

A load that fails (Massive down past the retries, a refused key, Redis gone) therefore resumes
where it stopped on the next trigger instead of starting over. At the end every ticker's row
gets its reference fields (``fundamentals.row_fields``) and loses those no source has any more.

Layout: ``sp:ref:{ref}:{day}:float`` / ``overview`` / ``short_interest`` hash ticker -> JSON value,
``sp:ref:{ref}:{day}:progress`` hash list name -> ``next_url`` path or ``done``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from redis.typing import EncodableT, FieldT

from stampede import keys
from stampede.functions.refdata import fundamentals as fx
from stampede.functions.refdata.budget import CpuBudget
from stampede.massive_rest import MassiveError, MassiveRest
from stampede.redisclient import RedisClient

FLOAT, OVERVIEW, SHORT, PROGRESS = "float", "overview", "short_interest", "progress"
NAMES = (FLOAT, OVERVIEW, SHORT, PROGRESS)
DONE = "done"
CHUNK = 200  # overviews written per Redis round trip (and work lost at most on a failure)


@dataclass(frozen=True, slots=True)
class FundamentalsLoaded:
    floats: int
    overviews: int
    short_interest: int
    rows: int


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class FundamentalsLoad:
    def __init__(
        self,
        rest: MassiveRest,
        redis: RedisClient,
        day: date,
        *,
        concurrency: int,
        short_interest_days: int,
        shards: int,
        keep_alive: Callable[[], Awaitable[None]],
        budget: CpuBudget | None = None,
    ) -> None:
        self.rest, self.redis, self.day = rest, redis, day
        self.key = {name: keys.reference(day.isoformat(), name) for name in NAMES}
        self.concurrency = concurrency
        self.short_interest_days = short_interest_days
        self.shards = shards  # REDIS_SHARDS: the rows' keys carry their symbol's shard
        self.keep_alive = keep_alive  # called after each saved step (extends the load latch)
        self.budget = budget  # the CPU share the load keeps to (None: unbounded)

    async def forget(self) -> None:
        """Drop saved progress and values (a forced reload starts over)."""
        await self.redis.delete(*self.key.values())

    async def run(self, symbols: Iterable[str]) -> FundamentalsLoaded:
        await self._list(FLOAT, "/stocks/vX/float", {"limit": 5000, "sort": "ticker.asc"})
        since = self.day - timedelta(days=self.short_interest_days)
        await self._list(
            SHORT,
            "/stocks/v1/short-interest",
            {
                "settlement_date.gte": since.isoformat(),
                "settlement_date.lte": self.day.isoformat(),
                "limit": 50_000,
                "sort": "ticker.asc",
            },
        )
        tickers = sorted(set(symbols))
        await self._overviews(tickers)
        return await self._write_rows(tickers)

    # -- lists: float, short interest -----------------------------------------------------

    async def _list(self, name: str, path: str, params: dict[str, Any]) -> None:
        resume = _text(await self.redis.hget(self.key[PROGRESS], name))
        if resume == DONE:
            return
        url, query = (resume, None) if resume else (path, params)
        known: dict[str, fx.ShortInterest] = {}
        if name == SHORT and resume:  # pages may split a ticker's settlements: merge with saved
            known = {k: fx.short_from_json(json.loads(v)) for k, v in (await self._saved(SHORT))}
        async for page in self.rest.pages(url, query):
            values: dict[FieldT, EncodableT] = {}
            for record in page.results:
                try:
                    parsed = (
                        fx.parse_float(record) if name == FLOAT else fx.parse_short_interest(record)
                    )
                except fx.BadRecord as exc:
                    self.rest.problem(f"bad_{name}_record", str(exc))
                    continue
                if parsed is None:
                    continue
                ticker, value = parsed
                if isinstance(value, fx.ShortInterest):
                    value = known[ticker] = fx.newer(known.get(ticker), value)
                values[ticker] = json.dumps(fx.to_json(value))
            async with self.redis.pipeline(transaction=True) as pipe:
                if values:
                    pipe.hset(self.key[name], mapping=values)
                pipe.hset(self.key[PROGRESS], name, page.next_url or DONE)
                for key in (self.key[name], self.key[PROGRESS]):
                    pipe.expire(key, keys.DAY_TTL_SECONDS)
                await pipe.execute()
            await self.keep_alive()

    async def _saved(self, name: str) -> list[tuple[str, str]]:
        raw = await self.redis.hgetall(self.key[name])
        return [(_text(k) or "", _text(v) or "") for k, v in raw.items()]

    # -- overviews: one call per ticker ---------------------------------------------------

    async def _overviews(self, tickers: list[str]) -> None:
        done = {_text(k) for k in await self.redis.hkeys(self.key[OVERVIEW])}
        todo = [t for t in tickers if t not in done]
        gate = asyncio.Semaphore(self.concurrency)

        async def one(ticker: str) -> str:
            async with gate:
                if self.budget and await self.budget.pace():
                    await self.keep_alive()  # a load paused for the live feed is still alive
                doc = await self.rest.get(f"/v3/reference/tickers/{quote(ticker, safe='')}")
            if doc is None:
                return ""  # 404: Massive has no overview of this ticker
            try:
                overview = fx.parse_overview(doc.get("results"), self.day.isoformat())
            except fx.BadRecord as exc:
                self.rest.problem("bad_overview_record", f"{ticker}: {exc}")
                return ""
            return json.dumps(fx.to_json(overview))

        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            answers = await asyncio.gather(*(one(t) for t in chunk), return_exceptions=True)
            values: dict[FieldT, EncodableT] = {
                t: a for t, a in zip(chunk, answers) if isinstance(a, str)
            }
            if values:  # keep what did arrive, even when part of the chunk failed
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hset(self.key[OVERVIEW], mapping=values)
                    pipe.expire(self.key[OVERVIEW], keys.DAY_TTL_SECONDS)
                    await pipe.execute()
            for answer in answers:
                if isinstance(answer, BaseException):
                    raise answer if isinstance(answer, MassiveError) else answer
            await self.keep_alive()

    # -- rows ------------------------------------------------------------------------------

    async def _write_rows(self, tickers: list[str]) -> FundamentalsLoaded:
        floats = {k: fx.float_from_json(json.loads(v)) for k, v in await self._saved(FLOAT)}
        shorts = {k: fx.short_from_json(json.loads(v)) for k, v in await self._saved(SHORT)}
        overviews = {
            k: fx.overview_from_json(json.loads(v)) for k, v in await self._saved(OVERVIEW) if v
        }
        day = self.day.isoformat()
        everyone = sorted(set(tickers) | floats.keys() | shorts.keys() | overviews.keys())
        written = 0
        for start in range(0, len(everyone), 1000):
            async with self.redis.pipeline(transaction=False) as pipe:
                for ticker in everyone[start : start + 1000]:
                    fields = fx.row_fields(
                        floats.get(ticker), overviews.get(ticker), shorts.get(ticker)
                    )
                    row = keys.row(day, ticker, self.shards)
                    gone = [f for f in fx.ROW_FIELDS if f not in fields]
                    if gone:
                        pipe.hdel(row, *gone)
                    if fields:
                        written += 1
                        mapping: dict[FieldT, EncodableT] = {"sym": ticker}
                        mapping.update(fields.items())
                        pipe.hset(row, mapping=mapping)
                        pipe.expire(row, keys.DAY_TTL_SECONDS)
                await pipe.execute()
        return FundamentalsLoaded(len(floats), len(overviews), len(shorts), written)
