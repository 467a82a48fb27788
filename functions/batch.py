"""Steps the market-data handlers share: decode a batch, apply its row writes."""

from __future__ import annotations

import msgspec
from stampede.market import Channel, MarketEvent, decode_events
from stampede_functions.cloudevents_http import Incoming
from stampede_functions.host import BadEvent, Context, Outcome
from stampede_functions.plan import RowWrite


def decode_batch(event: Incoming, channel: Channel) -> list[MarketEvent]:
    """The CloudEvent's data as typed Massive events; BadEvent (400) when it is not."""
    if not event.data:
        return []
    try:
        return decode_events(channel, event.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadEvent(f"data is not a JSON array of Massive {channel.value} events: {exc}") from exc


async def apply_writes(event: Incoming, ctx: Context, writes: list[RowWrite], events: int,
                       exchange_ms: int) -> Outcome:
    """Apply row writes of one CloudEvent in one Redis round trip."""
    if not writes:
        return Outcome("ignored", events=events)
    day = max(w.day for w in writes)
    with ctx.redis_apply():
        applied = await ctx.store.apply_rows(
            writes, event_id=event.id, exchange_ms=exchange_ms,
            received_ms=event.time_ms or exchange_ms, day=day,
        )
    if applied.duplicate:
        return Outcome("duplicate", events=events)
    return Outcome("applied", events=events, boards=applied.boards, exchange_ms=exchange_ms,
                   detail={"rows_changed": applied.changed})
