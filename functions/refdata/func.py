"""refdata function: on ``dev.stampede.refdata.load.v1`` (or the cluster's PingSource event,
``dev.knative.sources.ping``) load the day's reference data.

The trading day is the feed's: ``{"date": "YYYY-MM-DD"}`` in the event data, else
``serverTime`` of Massive's ``/v1/marketstatus/now`` (the simulator's clock locally). The load
runs once per day across all replicas (``SET NX`` latch on ``sp:{day}:once:refdata``); a
repeated trigger (the cron, ``stampede up``, a retry) answers "already loaded" unless the data
says ``{"force": true}``. A failed load releases the latch and answers 503 so the sender
retries; the retry resumes where the failed load stopped (see ``fundamentals_load``).

Two parts: the daily history (N grouped-daily bars, one paged minute-bars range of the profile
proxy, one market status: previous close, ADV, intraday profile), then what traders filter on
(float and short interest lists, one overview per ticker: shares outstanding, market cap),
written into each ticker's row. All calls go through one paced, retrying client.

The daily part is a few calls and the boards need it to rank; the fundamentals are thousands
of calls (minutes at a plan's pace) and only add columns. So ``{"part": "daily"}`` or
``{"part": "fundamentals"}`` asks for one of them (each with its own latch), and no part means
both in order (the cron): a starting scanner waits for the daily part only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import date

from stampede import keys
from stampede.events import REFDATA_LOAD_TYPE
from stampede.functions import metrics
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.host import BadEvent, Context, Outcome, Unavailable
from stampede.functions.late import LateProbe
from stampede.functions.refdata import history
from stampede.functions.refdata.budget import CpuBudget
from stampede.functions.refdata.fundamentals_load import FundamentalsLoad
from stampede.functions.refdata.loader import Loaded, build
from stampede.markettime import previous_trading_day
from stampede.massive_rest import MassiveError, MassiveRest

LATCH = "refdata"
PARTS = ("daily", "fundamentals")
# A Knative PingSource cannot set its CloudEvent type: in the cluster the cron fires this one.
PING_TYPE = "dev.knative.sources.ping"
LOADING_TTL_SECONDS = 300  # a replica that died mid-load frees the latch after this


def parse_request(data: bytes | None) -> tuple[date | None, bool, tuple[str, ...]]:
    """(requested day or None for "the feed's today", force, parts) from the event data."""
    if not data:
        return None, False, PARTS
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise BadEvent(f"data is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadEvent('data must be an object: {} or {"date": "YYYY-MM-DD"}')
    day = None
    if body.get("date") is not None:
        try:
            day = date.fromisoformat(body["date"])
        except (TypeError, ValueError) as exc:
            raise BadEvent(f"date must be YYYY-MM-DD, got {body['date']!r}") from exc
    part = body.get("part")
    if part is not None and part not in PARTS:
        raise BadEvent(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    return day, bool(body.get("force", False)), (part,) if part else PARTS


def sessions_before(day: date, count: int) -> list[date]:
    """The ``count`` XNYS sessions before ``day``, oldest first."""
    sessions, d = [], day
    for _ in range(count):
        d = previous_trading_day(d)
        sessions.append(d)
    return sessions[::-1]


class RefData:
    name = "refdata"
    event_types = frozenset({REFDATA_LOAD_TYPE, PING_TYPE})
    checks_age = False  # a load request does not go stale
    # Its events come from a PingSource, which cannot sign; a load only fetches what Massive
    # says, once a day (a repeat is a no-op), so a forged one writes nothing of its own.
    checks_signature = False

    async def start(self, ctx: Context) -> None:
        s = ctx.settings
        self.rest = MassiveRest(
            s.massive_rest_url,
            s.massive_api_key.get_secret_value(),
            timeout=s.refdata_timeout_seconds,
            rate=s.refdata_requests_per_second,
            attempts=s.refdata_attempts,
            on_problem=lambda kind: metrics.REFDATA_REST_PROBLEMS.labels(kind).inc(),
            logger=ctx.log,
        )

    async def stop(self) -> None:
        await self.rest.close()

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        requested, force, parts = parse_request(event.data)
        try:
            day = requested or await self.rest.today()
        except MassiveError as exc:
            raise Unavailable(str(exc)) from exc
        detail: dict[str, object] = {"day": day.isoformat()}
        applied, ignored = [], {}
        for part in parts:
            done = await self.load_part(day, part, force, ctx)
            if "reason" in done:
                ignored[part] = done["reason"]
            else:
                applied.append(part)
                detail.update(done)
        if not applied:
            return Outcome("ignored", detail={**detail, "reason": next(iter(ignored.values()))})
        if ignored:
            detail["ignored_parts"] = ignored
        ctx.log.info("reference data loaded (%s)", ", ".join(applied), extra=detail)
        return Outcome("applied", events=1, detail=detail)

    async def load_part(self, day: date, part: str, force: bool, ctx: Context) -> dict[str, object]:
        """One part under its once-a-day latch (``SET NX``): a repeated trigger is ignored unless
        forced; a failure releases the latch and answers 503, so the sender retries."""
        latch = keys.once(day.isoformat(), LATCH if part == "daily" else f"{LATCH}:{part}")
        taken = await ctx.redis.set(latch, "loading", nx=True, ex=LOADING_TTL_SECONDS)
        if not taken:
            held = await ctx.redis.get(latch)
            current = held.decode() if isinstance(held, bytes) else held or ""
            if current == "loading" or not force:
                return {"reason": "load in progress" if current == "loading" else "already loaded"}
            await ctx.redis.set(latch, "loading", ex=LOADING_TTL_SECONDS)
        try:
            if part == "daily":
                detail = await self.load_daily(day, force, ctx)
            else:
                detail = await self.load_fundamentals(day, force, latch, ctx)
        except MassiveError as exc:
            await ctx.redis.delete(latch)
            raise Unavailable(str(exc)) from exc
        except BaseException:
            await ctx.redis.delete(latch)
            raise
        await ctx.redis.set(latch, "done", ex=keys.DAY_TTL_SECONDS)
        return detail

    async def load_daily(self, day: date, force: bool, ctx: Context) -> dict[str, object]:
        """Previous close, ADV and the intraday profile (unless saved for the day and not forced)."""
        name = day.isoformat()
        meta = await ctx.redis.hgetall(keys.reference(name, "meta"))
        if meta and not force:
            return {"symbols": int(meta.get(b"symbols", 0)), "resumed": True}
        loaded = await self.load(day, ctx)
        with ctx.redis_apply():
            await self.save(name, loaded, ctx)
        metrics.REFDATA_SYMBOLS.inc(len(loaded.prev_close))
        return {
            "symbols": len(loaded.prev_close),
            "sessions": loaded.sessions,
            "profile_minutes": len(loaded.profile),
        }

    async def load_fundamentals(
        self, day: date, force: bool, latch: str, ctx: Context
    ) -> dict[str, object]:
        """Float, overviews and short interest into the rows, resumed from saved progress
        unless forced; needs the daily part (its tickers) first."""
        s = ctx.settings
        if not s.refdata_fundamentals:
            return {"skipped": "REFDATA_FUNDAMENTALS is off"}
        tickers = await ctx.redis.hkeys(keys.reference(day.isoformat(), "prev_close"))
        if not tickers:
            raise Unavailable("the daily reference part is not loaded yet; retry after it")

        async def keep_alive() -> None:
            await ctx.redis.expire(latch, LOADING_TTL_SECONDS)

        load = FundamentalsLoad(
            self.rest,
            ctx.redis,
            day,
            concurrency=s.refdata_concurrency,
            short_interest_days=s.refdata_short_interest_days,
            shards=s.redis_shards,
            keep_alive=keep_alive,
            budget=CpuBudget(s.refdata_cpu_share, late=LateProbe(ctx.redis)),
        )
        if force:
            await load.forget()
        done = await load.run(t.decode() if isinstance(t, bytes) else t for t in tickers)
        return {
            "floats": done.floats,
            "overviews": done.overviews,
            "short_interest": done.short_interest,
            "reference_rows": done.rows,
        }

    async def load(self, day: date, ctx: Context) -> Loaded:
        s = ctx.settings
        sessions = sessions_before(day, s.refdata_sessions)
        grouped_answers = await asyncio.gather(
            *(history.grouped_daily(self.rest, d) for d in sessions)
        )
        grouped = {d.isoformat(): bars for d, bars in zip(sessions, grouped_answers)}
        minute_bars = await history.minute_bars(
            self.rest, s.refdata_profile_symbol, sessions[0], sessions[-1]
        )
        return build(grouped, minute_bars)

    async def save(self, day: str, loaded: Loaded, ctx: Context) -> None:
        """Replace the day's daily reference hashes atomically (MULTI/EXEC, one round trip)."""
        meta: dict[str, float | str] = {
            "loaded_ms": int(time.time() * 1000),
            "sessions": loaded.sessions,
            "symbols": len(loaded.prev_close),
            "profile_symbol": ctx.settings.refdata_profile_symbol,
        }
        mapping: Mapping[str, float | str] | Mapping[int, float]
        async with ctx.redis.pipeline(transaction=True) as pipe:
            for name, mapping in (
                ("prev_close", loaded.prev_close),
                ("adv", loaded.adv),
                ("profile", loaded.profile),
                ("meta", meta),
            ):
                key = keys.reference(day, name)
                pipe.delete(key)
                if mapping:
                    pipe.hset(key, mapping={str(k): v for k, v in mapping.items()})
                    pipe.expire(key, keys.DAY_TTL_SECONDS)
            await pipe.execute()


def new() -> RefData:
    return RefData()
