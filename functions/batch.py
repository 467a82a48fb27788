"""What the market-data handlers share: decode a batch (and check its numbers), group commit."""

from __future__ import annotations

import asyncio
from typing import Generic

import msgspec

from stampede.functions.cloudevents_http import Incoming
from stampede.functions.commit import Flushed, GroupCommit, Part
from stampede.functions.host import BadEvent, Context, Outcome
from stampede.functions.store import current_traceparent
from stampede.keys import shard_of
from stampede.market import PRICE_MAX, SIZE_MAX, EventT, channel_of_kind, decode_events


def decode_batch(event: Incoming, kind: type[EventT]) -> list[EventT]:
    """The CloudEvent's data as typed Massive events (``kind``, e.g. ``Trade``); BadEvent (400)
    when it is not, or when a price or size is not sane (``stampede.market.Price``/``Size``), so
    no function's scoring ever sees a number it cannot handle."""
    if not event.data:
        return []
    channel = channel_of_kind(kind)
    try:
        return decode_events(kind, event.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadEvent(
            f"data is not a JSON array of sane Massive {channel.value} events (prices >= 0 and "
            f"< {PRICE_MAX:g}, sizes >= 0 and < {SIZE_MAX:g}): {exc}"
        ) from exc


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
    checks_signature = True
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
