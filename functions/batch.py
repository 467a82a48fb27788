"""Steps the market-data handlers share: decode a batch (and check its numbers), apply its row writes."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from stampede.functions.cloudevents_http import Incoming
from stampede.functions.host import BadEvent, Context, Outcome
from stampede.functions.plan import RowWrite
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
    bound (NaN fails every comparison, so the chained checks reject it too)."""
    for bound, kind, fields in (
        (PRICE_MAX, "price", _PRICES[channel]),
        (SIZE_MAX, "size", _SIZES[channel]),
    ):
        for name, attr in fields:
            for index, market_event in enumerate(events):
                value = getattr(market_event, attr)
                if not 0.0 <= value < bound:
                    raise BadEvent(
                        f"event {index} ({channel.value}) field {name!r} = {value!r} is not a sane "
                        f"{kind}: it must be finite, >= 0 and < {bound:g}"
                    )


async def apply_writes(
    event: Incoming, ctx: Context, writes: list[RowWrite], events: int, exchange_ms: int
) -> Outcome:
    """Apply row writes of one CloudEvent in one Redis round trip."""
    if not writes:
        return Outcome("ignored", events=events)
    day = max(w.day for w in writes)
    with ctx.redis_apply():
        applied = await ctx.store.apply_rows(
            writes,
            event_id=event.id,
            exchange_ms=exchange_ms,
            received_ms=event.time_ms or exchange_ms,
            day=day,
        )
    if applied.duplicate:
        return Outcome("duplicate", events=events)
    return Outcome(
        "applied",
        events=events,
        boards=applied.boards,
        exchange_ms=exchange_ms,
        detail={"rows_changed": applied.changed},
    )
