"""bars function: AM and LULD batches in, the symbol view's hashes in Redis out.

One pipelined round trip per CloudEvent: an ``HSET`` per bar or halt and an ``EXPIRE`` per
key touched. Nothing is ranked and no board changes, so no change notice is published; the
symbol view polls ``/api/symbols/{sym}/bars``. Market-data age checks are off: a late bar is
still the right bar for a chart, and a replay after an outage fills the chart in.
"""

from __future__ import annotations

from stampede import keys
from stampede.events import CHANNEL_OF_TYPE, MARKET_EVENT_TYPES
from stampede.functions.bars.scoring import HashWrite, bar_writes, halt_writes
from stampede.functions.batch import decode_batch
from stampede.functions.cloudevents_http import Incoming
from stampede.functions.host import Context, Outcome
from stampede.market import Channel, Luld, MinuteAggregate, to_millis

KEY_OF = {"bars": keys.bars, "halts": keys.halt_history}


class Bars:
    name = "bars"
    event_types = frozenset(
        {MARKET_EVENT_TYPES[Channel.MINUTE_AGGREGATE], MARKET_EVENT_TYPES[Channel.LULD]}
    )
    checks_age = False
    checks_signature = True

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        writes: list[HashWrite]
        if CHANNEL_OF_TYPE[event.type] is Channel.MINUTE_AGGREGATE:
            minutes = decode_batch(event, MinuteAggregate)
            count, writes = len(minutes), bar_writes(minutes)
            newest = max((e.e for e in minutes), default=0)
        else:
            lulds = decode_batch(event, Luld)
            count, writes = len(lulds), halt_writes(lulds)
            newest = max((to_millis(e.t) for e in lulds), default=0)
        if not writes:
            return Outcome("ignored", events=count)
        pipe = ctx.redis.pipeline(transaction=False)
        touched: set[str] = set()
        for w in writes:
            key = KEY_OF[w.kind](w.day, w.sym, ctx.settings.redis_shards)
            pipe.hset(key, w.field, w.value)
            touched.add(key)
        for key in touched:
            pipe.expire(key, keys.DAY_TTL_SECONDS)
        with ctx.redis_apply():
            await pipe.execute()
        return Outcome(
            "applied",
            events=count,
            exchange_ms=newest or None,
            detail={"written": len(writes)},
        )


def new() -> Bars:
    return Bars()
