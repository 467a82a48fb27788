"""movers function: per-second aggregate batches (``A``) in, the movers boards out."""

from __future__ import annotations

from stampede.events import MARKET_EVENT_TYPES
from stampede.functions.batch import MarketFunction
from stampede.functions.commit import Flushed, Part
from stampede.functions.movers.scoring import locate, premarket_writes, score_batch
from stampede.market import Aggregate, Channel


class Movers(MarketFunction[Aggregate]):
    name = "movers"
    kind = Aggregate
    event_types = frozenset({MARKET_EVENT_TYPES[Channel.AGGREGATE]})

    def exchange_ms(self, events: list[Aggregate]) -> int:
        return max(b.e for b in events)

    async def flush(self, shard: int, parts: list[Part[Aggregate]]) -> Flushed:
        """The newest bar per symbol over every CloudEvent of the group, scored once."""
        bars = [b for p in parts for b in p.events]
        located = locate(bars)
        references = {day: await self.ctx.references.get(day) for day in {x.day for x in located}}
        writes = score_batch(located, references) + premarket_writes(bars)
        with self.ctx.redis_apply():
            return await self.ctx.store.apply_rows(shard, parts, writes)


def new() -> Movers:
    return Movers()
