"""halts function: LULD batches in, LULD bands on rows and the halts board out."""

from __future__ import annotations

from stampede.events import MARKET_EVENT_TYPES
from stampede.functions.batch import MarketFunction
from stampede.functions.commit import Flushed, Part
from stampede.functions.halts.scoring import score_batch
from stampede.market import Channel, Luld, to_millis


class Halts(MarketFunction[Luld]):
    name = "halts"
    kind = Luld
    event_types = frozenset({MARKET_EVENT_TYPES[Channel.LULD]})

    def exchange_ms(self, events: list[Luld]) -> int:
        return max(to_millis(e.t) for e in events)

    async def flush(self, shard: int, parts: list[Part[Luld]]) -> Flushed:
        """The newest band and halt state per symbol over every CloudEvent of the group."""
        writes = score_batch(e for p in parts for e in p.events)
        with self.ctx.redis_apply():
            return await self.ctx.store.apply_rows(shard, parts, writes)


def new() -> Halts:
    return Halts()
