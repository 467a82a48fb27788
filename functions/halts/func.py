"""halts function: LULD batches in, LULD bands on rows and the halts board out."""

from __future__ import annotations

from stampede.events import MARKET_EVENT_TYPES
from stampede.functions.batch import apply_writes, decode_batch
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.halts.scoring import score_batch
from stampede.functions.host import Context, Outcome
from stampede.market import Channel, Luld, to_millis


class Halts:
    name = "halts"
    event_types = frozenset({MARKET_EVENT_TYPES[Channel.LULD]})
    checks_age = True

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        events = decode_batch(event, Luld)
        if not events:
            return Outcome("ignored")
        newest = max(to_millis(e.t) for e in events)
        return await apply_writes(event, ctx, score_batch(events), len(events), newest)


def new() -> Halts:
    return Halts()
