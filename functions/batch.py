"""What the market-data handlers share: decode a batch (and check its numbers), group commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from operator import attrgetter
from typing import Generic

import msgspec

from stampede.functions.cloudevents_http import Incoming
from stampede.functions.commit import Flushed, GroupCommit, Part
from stampede.functions.host import BadEvent, Context, Outcome
from stampede.functions.store import current_traceparent
from stampede.keys import shard_of
from stampede.market import Channel, EventT, MarketEvent, channel_of_kind, decode_events

# Bounds no real market event reaches (the dearest US stock trades below $1M; a day's volume
# of the most traded one is a few 10^9 shares). Beyond them the numbers are garbage that would
# poison boards and overflow encoders downstream (e.g. msgpack's 64-bit ints).
PRICE_MAX = 1e7
SIZE_MAX = 1e12
# Per channel: (JSON name, attribute) of its price fields and of its size/volume fields.
_PRICES: dict[Channel, tuple[tuple[str, str], ...]] = {
    Channel.TRADE: (("p", "p"),),
    Channel.QUOTE: (("bp", "bp"), ("ap", "ap")),
    Channel.AGGREGATE: tuple((f, f) for f in ("o", "c", "h", "l", "vw", "op", "a")),
    Channel.MINUTE_AGGREGATE: tuple((f, f) for f in ("o", "c", "h", "l", "vw", "op", "a")),
    Channel.LULD: (("h", "h"), ("l", "l")),
    Channel.IMBALANCE: (("b", "b"),),
}
_SIZES: dict[Channel, tuple[tuple[str, str], ...]] = {
    Channel.TRADE: (("s", "s"),),
    Channel.QUOTE: (("bs", "bs"), ("as", "as_")),
    Channel.AGGREGATE: tuple((f, f) for f in ("v", "av", "z")),
    Channel.MINUTE_AGGREGATE: tuple((f, f) for f in ("v", "av", "z")),
    Channel.LULD: (),
    Channel.IMBALANCE: (("o", "o"), ("p", "p")),
}


def decode_batch(event: Incoming, kind: type[EventT]) -> list[EventT]:
    """The CloudEvent's data as typed Massive events (``kind``, e.g. ``Trade``) with sane
    numbers; BadEvent (400) when it is not, so no function's scoring ever sees a price or size
    it cannot handle."""
    if not event.data:
        return []
    channel = channel_of_kind(kind)
    try:
        events = decode_events(kind, event.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadEvent(
            f"data is not a JSON array of Massive {channel.value} events: {exc}"
        ) from exc
    check_numbers(events, channel)
    return events


def check_numbers(events: Sequence[MarketEvent], channel: Channel) -> None:
    """Raise BadEvent naming the first price or size that is not finite, >= 0 and below its
    bound. Each field is checked for the whole batch at C speed (min, max, and a sum that is
    NaN if any value is); only a batch that fails is walked event by event for the message."""
    for bound, kind, fields in (
        (PRICE_MAX, "price", _PRICES[channel]),
        (SIZE_MAX, "size", _SIZES[channel]),
    ):
        for name, attr in fields:
            values = list(map(attrgetter(attr), events))
            total = sum(values)
            if values and min(values) >= 0.0 and max(values) < bound and total == total:
                continue
            for index, value in enumerate(values):
                if not 0.0 <= value < bound:  # NaN fails every comparison
                    raise BadEvent(
                        f"event {index} ({channel.value}) field {name!r} = {value!r} is not a sane "
                        f"{kind}: it must be finite, >= 0 and < {bound:g}"
                    )


class MarketFunction(Generic[EventT]):
    """What movers, momentum and halts share: decode and check a batch, split it by symbol
    shard, hand each part to the group commit and answer once every part is applied.

    A subclass names the ``kind`` of event it takes and implements ``flush(shard, parts)``: merge
    the events of every part (one reduction per symbol) and apply them in one script call.
    """

    name: str
    kind: type[EventT]
    event_types: frozenset[str]
    checks_age = True
    ctx: Context
    commit: GroupCommit[EventT]

    async def start(self, ctx: Context) -> None:
        self.ctx = ctx
        self.commit = GroupCommit(self.flush, ctx.settings.function_commit_max_events)

    async def stop(self) -> None:
        await self.commit.close()

    async def flush(self, shard: int, parts: list[Part[EventT]]) -> Flushed:
        raise NotImplementedError

    def exchange_ms(self, events: list[EventT]) -> int:
        """Exchange time of the newest event of a batch (Unix ms)."""
        raise NotImplementedError

    async def handle(self, event: Incoming, ctx: Context) -> Outcome:
        events = decode_batch(event, self.kind)
        if not events:
            return Outcome("ignored")
        exchange_ms = self.exchange_ms(events)
        received_ms = event.time_ms or exchange_ms
        traceparent = current_traceparent()
        split = by_shard(events, ctx.settings.redis_shards)
        results = await asyncio.gather(
            *(
                self.commit.submit(
                    shard, Part(event.id, part, exchange_ms, received_ms, traceparent)
                )
                for shard, part in split.items()
            )
        )
        applied = [r for r in results if r.applied]
        if not applied:
            return Outcome("duplicate", events=len(events))
        return Outcome(
            "applied",
            events=len(events),
            boards=tuple(sorted({b for r in applied for b in r.boards})),
            exchange_ms=exchange_ms,
            detail={
                "rows_changed": sum(r.changed for r in applied),
                "group": max(r.group for r in applied),
            },
        )


def by_shard(events: list[EventT], shards: int) -> dict[int, list[EventT]]:
    """The events of each symbol shard (all of them in shard 0 with one shard)."""
    if shards == 1:
        return {0: events}
    split: dict[int, list[EventT]] = {}
    for e in events:
        split.setdefault(shard_of(e.sym, shards), []).append(e)
    return split
