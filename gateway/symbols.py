"""REST for the symbol view: one symbol's row, halt history and the day's minute bars.

The dashboard's chart reads these, never Massive: no key reaches a browser. The bars come from
the ``bars`` function's hash (``keys.bars``), one Redis command per call; ``since`` lets an open
chart poll for the newest bars (the bar at ``since`` is sent again, since Massive may have
corrected it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from stampede import keys
from stampede.gateway.rows import wire_row
from stampede.markettime import ET
from stampede.redisclient import RedisClient

SYMBOL = re.compile(r"[A-Z][A-Z0-9.\-]{0,11}")  # fullmatch: `match` with `$` took "AAPL\n"
_bar = msgspec.json.Decoder(tuple[float, float, float, float, float, float, float])
_halt = msgspec.json.Decoder(tuple[bool])


class HaltEvent(BaseModel):
    t: int = Field(description="Exchange time (Unix ms).")
    halted: bool = Field(description="true: a halt; false: a resume.")


class SymbolInfo(BaseModel):
    sym: str
    day: str
    row: dict[str, Any] = Field(description="The symbol's row (fields: docs/gateway.md).")
    halts: list[HaltEvent] = Field(description="Today's halts and resumes, oldest first.")


class MinuteBar(BaseModel):
    t: int = Field(description="Window start (Unix ms).")
    o: float
    h: float
    l: float  # noqa: E741 - the OHLC name
    c: float
    v: float
    vw: float = Field(description="The minute's VWAP.")
    a: float = Field(description="The day's VWAP at the end of the minute.")


class SymbolBars(BaseModel):
    sym: str
    day: str
    utc_offset_s: int = Field(description="ET offset from UTC that day (charts show ET).")
    bars: list[MinuteBar]


def checked(sym: str) -> str:
    """The ticker in upper case; 422 when it does not look like one."""
    sym = sym.upper()
    if not SYMBOL.fullmatch(sym):
        raise HTTPException(
            422, {"code": "bad_request", "message": f"{sym[:20]!r} is not a ticker symbol"}
        )
    return sym


def symbol_router(
    redis: Callable[[], RedisClient], current_day: Callable[[], str], authorize: Callable[..., None]
) -> APIRouter:
    """``redis`` gives the client to read with now (the gateway's read source may switch)."""
    router = APIRouter(prefix="/api/symbols", dependencies=[Depends(authorize)])

    async def read(*hashes: str) -> list[Any]:
        pipe = redis().pipeline(transaction=False)
        for key in hashes:
            pipe.hgetall(key)
        try:
            return await pipe.execute()
        except (RedisError, OSError) as exc:
            raise HTTPException(503, {"code": "redis_unavailable", "message": str(exc)}) from None

    @router.get("/{sym}", response_model=SymbolInfo)
    async def symbol(sym: Annotated[str, Path(description="Ticker, e.g. AAPL.")]) -> SymbolInfo:
        """The symbol's row and today's halts; 404 `unknown_symbol` when it has no row today."""
        sym, day = checked(sym), current_day()
        values, halts = await read(keys.row(day, sym), keys.halt_history(day, sym))
        if not values:
            raise HTTPException(
                404, {"code": "unknown_symbol", "message": f"no row for {sym} on {day}"}
            )
        return SymbolInfo(sym=sym, day=day, row=wire_row(sym, values), halts=halt_events(halts))

    @router.get("/{sym}/bars", response_model=SymbolBars)
    async def bars(
        sym: Annotated[str, Path(description="Ticker, e.g. AAPL.")],
        since: Annotated[
            int | None, Query(ge=0, description="Only bars starting at or after this Unix ms.")
        ] = None,
    ) -> SymbolBars:
        """Today's 1-minute bars of the symbol, oldest first (empty before its first trade)."""
        sym, day = checked(sym), current_day()
        (stored,) = await read(keys.bars(day, sym))
        return SymbolBars(
            sym=sym, day=day, utc_offset_s=utc_offset_s(day), bars=minute_bars(stored, since)
        )

    return router


def minute_bars(stored: dict[str, str], since: int | None) -> list[MinuteBar]:
    """Bars from the hash, oldest first; a garbled entry is skipped, never guessed."""
    out = []
    for field, value in stored.items():
        try:
            t = int(field)
            o, h, lo, c, v, vw, a = _bar.decode(value)
        except (ValueError, msgspec.DecodeError):
            continue
        if since is None or t >= since:
            out.append(MinuteBar(t=t, o=o, h=h, l=lo, c=c, v=v, vw=vw, a=a))
    out.sort(key=lambda b: b.t)
    return out


def halt_events(stored: dict[str, str]) -> list[HaltEvent]:
    out = []
    for field, value in stored.items():
        try:
            (halted,) = _halt.decode(value)
            out.append((int(field.partition(":")[0]), int(field.partition(":")[2] or 0), halted))
        except (ValueError, msgspec.DecodeError):
            continue
    return [HaltEvent(t=t, halted=halted) for t, _, halted in sorted(out)]


def utc_offset_s(day: str) -> int:
    noon = datetime.fromisoformat(day).replace(hour=12, tzinfo=ET)
    offset = noon.utcoffset()
    return int(offset.total_seconds()) if offset else 0
