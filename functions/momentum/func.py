"""momentum function: trade batches (``T``) in, the momentum boards out."""

from __future__ import annotations

from stampede.events import MARKET_EVENT_TYPES
from stampede.functions.batch import MarketFunction
from stampede.functions.commit import Flushed, Part
from stampede.functions.host import Context
from stampede.functions.momentum.scoring import reduce_trades
from stampede.functions.momentum.window import Window
from stampede.market import Channel, Trade


class Momentum(MarketFunction[Trade]):
    name = "momentum"
    kind = Trade
    event_types = frozenset({MARKET_EVENT_TYPES[Channel.TRADE]})

    async def start(self, ctx: Context) -> None:
        await super().start(ctx)
        self.window = Window(ctx.redis, ctx.settings)

    def exchange_ms(self, events: list[Trade]) -> int:
        return max(t.t for t in events)

    async def flush(self, shard: int, parts: list[Part[Trade]]) -> Flushed:
        """Every trade of the group reduced per symbol and second, merged in one call."""
        symbols = reduce_trades(t for p in parts for t in p.events)
        if not symbols:  # only trades that count for nothing (official open/close prints)
            return Flushed()
        with self.ctx.redis_apply():
            return await self.window.apply(shard, parts, symbols)


def new() -> Momentum:
    return Momentum()
