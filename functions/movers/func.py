"""movers function: per-second aggregate batches (``A``) in, the movers boards out."""

from __future__ import annotations

from stampede.events import MARKET_EVENT_TYPES
from stampede.functions.batch import apply_writes, decode_batch
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.host import Context, Outcome
from stampede.functions.movers.scoring import locate, score_batch
from stampede.market import Aggregate, Channel


class Movers:
    name = "movers"
    event_types = frozenset({MARKET_EVENT_TYPES[Channel.AGGREGATE]})
    checks_age = True

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        bars = decode_batch(event, Aggregate)
        if not bars:
            return Outcome("ignored")
        located = locate(bars)
        references = {day: await ctx.references.get(day) for day in {x.day for x in located}}
        writes = score_batch(located, references)
        return await apply_writes(event, ctx, writes, len(bars), max(b.e for b in bars))


def new() -> Movers:
    return Movers()
