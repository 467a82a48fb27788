"""momentum function: trade batches (``T``) in, the momentum boards out."""

from __future__ import annotations

from collections import defaultdict

from stampede.events import MARKET_EVENT_TYPES
from stampede.functions.batch import decode_batch
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.host import Context, Outcome
from stampede.functions.momentum.scoring import SymbolTrades, reduce_trades
from stampede.functions.momentum.window import HOD_BOARD, WINDOW_BOARDS, Window, group_payload
from stampede.market import Channel, Trade


class Momentum:
    name = "momentum"
    event_types = frozenset({MARKET_EVENT_TYPES[Channel.TRADE]})
    checks_age = True
    boards = (*WINDOW_BOARDS, HOD_BOARD)

    async def start(self, ctx: Context) -> None:
        self.window = Window(ctx.redis)

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        trades = decode_batch(event, Trade)
        symbols = reduce_trades(trades)
        if not symbols:
            return Outcome("ignored", events=len(trades))
        by_day: dict[str, list[SymbolTrades]] = defaultdict(list)
        for entry in symbols:
            by_day[entry.day].append(entry)
        newest = max(e.newest_ms for e in symbols)
        day = max(by_day)
        header = ctx.store.header(day, event.id, self.boards, newest, event.time_ms or newest)
        s = ctx.settings
        with ctx.redis_apply():
            result = await self.window.apply(
                header,
                [group_payload(d, entries) for d, entries in sorted(by_day.items())],
                tape_seconds=s.function_tape_seconds,
                stale_ms=s.function_momentum_stale_seconds * 1000,
                window_ttl=s.function_window_ttl_seconds,
                board_size=s.function_board_size,
            )
        if result == 0:
            return Outcome("duplicate", events=len(trades))
        return Outcome(
            "applied",
            events=len(trades),
            boards=self.boards,
            exchange_ms=newest,
            detail={"symbols": result - 1},
        )


def new() -> Momentum:
    return Momentum()
