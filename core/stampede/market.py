"""Massive (formerly Polygon.io) stocks events, typed exactly as they travel on the wire.

Field names stay Massive's own (``sym``, ``av``, ``op`` ...) so a frame decodes with no
renaming, and the batches the bridge publishes are the very objects Massive sent: the
CloudEvent data schema is "Massive's event objects, grouped by channel" (see
``docs/architecture.md``). The simulator encodes with these structs and the bridge and the
functions decode with them, so all three agree by construction.

Decoding is strict about types (a price must be a number) and about sanity (a price or size
no real market reaches is rejected at decode, so one garbage event is dropped alone where a
frame is parsed and never reaches scoring), and tolerant about unknown extra fields, which
Massive adds over time.
"""

from __future__ import annotations

import enum
from types import GenericAlias
from typing import Annotated, Any, TypeVar

import msgspec

# Bounds no real market event reaches (the dearest US stock trades below $1M; a day's volume of
# the most traded one is a few 10^9 shares). Beyond them the numbers are garbage that would
# poison boards and overflow encoders downstream (e.g. msgpack's 64-bit ints). JSON has no NaN,
# and 1e400 decodes to inf, which the upper bound rejects.
PRICE_MAX = 1e7
SIZE_MAX = 1e12
Price = Annotated[float, msgspec.Meta(ge=0, lt=PRICE_MAX)]
Size = Annotated[float, msgspec.Meta(ge=0, lt=SIZE_MAX)]


class Channel(str, enum.Enum):
    """Massive stocks channels; the value is the ``ev`` tag and the subscription prefix."""

    AGGREGATE = "A"
    MINUTE_AGGREGATE = "AM"
    TRADE = "T"
    QUOTE = "Q"
    LULD = "LULD"
    IMBALANCE = "NOI"


class Aggregate(msgspec.Struct, tag_field="ev", tag="A", omit_defaults=True):
    """Per-second bar (``A``); ``AM`` uses the same fields for a minute window."""

    sym: str
    v: Size  # window volume (may be fractional)
    s: int  # window start, Unix ms
    e: int  # window end, Unix ms
    o: Price
    c: Price
    h: Price
    l: Price
    vw: Price = 0.0  # window VWAP
    av: Size = 0.0  # today's accumulated volume
    op: Price = 0.0  # today's official open; 0/absent before 09:30 ET
    a: Price = 0.0  # today's VWAP
    z: Size = 0.0  # average trade size
    otc: bool = False
    dv: str | None = None
    dav: str | None = None


class MinuteAggregate(Aggregate, tag="AM"):
    """Minute bar (``AM``)."""


class Trade(msgspec.Struct, tag_field="ev", tag="T", omit_defaults=True):
    sym: str
    p: Price
    s: Size  # shares
    t: int  # SIP timestamp, Unix ms
    x: int = 0  # exchange id
    i: str = ""  # trade id
    z: int = 0  # tape: 1 NYSE, 2 AMEX, 3 Nasdaq
    c: list[int] = []  # condition ids; absent means a regular trade
    q: int = 0  # per-ticker sequence number
    trfi: int | None = None
    trft: int | None = None
    ds: str | None = None


class Quote(msgspec.Struct, tag_field="ev", tag="Q", omit_defaults=True):
    sym: str
    bp: Price
    ap: Price
    t: int
    bx: int = 0
    bs: Size = 0  # round lots
    ax: int = 0
    as_: Size = msgspec.field(default=0, name="as")
    c: int | None = None  # quote condition
    i: list[int] = []
    q: int = 0
    z: int = 0


class Luld(msgspec.Struct, tag_field="ev", tag="LULD", omit_defaults=True):
    """Limit up / limit down band. The ticker is in ``T``, not ``sym``."""

    T: str
    h: Price  # upper band
    l: Price
    t: int  # timestamp; unit varies by source, see ``to_millis``
    i: list[int] = []  # indicators: 17 halt, 18 resume
    z: int = 0
    q: int = 0

    @property
    def sym(self) -> str:
        return self.T


class Imbalance(msgspec.Struct, tag_field="ev", tag="NOI", omit_defaults=True):
    """Net order imbalance. The ticker is in ``T``."""

    T: str
    t: int
    at: int = 0  # auction time HHMM ET
    a: str = ""  # auction type
    x: int = 0
    o: Size = 0  # imbalance quantity
    p: Size = 0  # paired quantity
    b: Price = 0  # book clearing price
    q: int = 0

    @property
    def sym(self) -> str:
        return self.T


class Status(msgspec.Struct, tag_field="ev", tag="status"):
    """Connection status object; may share a frame with market events."""

    status: str
    message: str = ""


MarketEvent = Aggregate | MinuteAggregate | Trade | Quote | Luld | Imbalance
FrameItem = Aggregate | MinuteAggregate | Trade | Quote | Luld | Imbalance | Status

EVENT_TYPES: dict[Channel, type[MarketEvent]] = {
    Channel.AGGREGATE: Aggregate,
    Channel.MINUTE_AGGREGATE: MinuteAggregate,
    Channel.TRADE: Trade,
    Channel.QUOTE: Quote,
    Channel.LULD: Luld,
    Channel.IMBALANCE: Imbalance,
}

LULD_HALT = 17
LULD_RESUME = 18


# One of the market event structs (constrained, not bound, so each is checked on its own): a
# function decoding a batch of ``Trade`` gets ``list[Trade]``.
EventT = TypeVar("EventT", MinuteAggregate, Aggregate, Trade, Quote, Luld, Imbalance)


def channel_of_kind(kind: type[MarketEvent]) -> Channel:
    return Channel(kind.__struct_config__.tag)


def to_millis(timestamp: int) -> int:
    """Normalise a Massive timestamp to Unix ms; units differ by channel (ms, us or ns).

    The unit is inferred from the number of digits, as the protocol notes advise.
    """
    if timestamp >= 10**17:  # nanoseconds
        return timestamp // 1_000_000
    if timestamp >= 10**14:  # microseconds
        return timestamp // 1_000
    return timestamp


_frame_decoder = msgspec.json.Decoder(list[FrameItem])
# ``list[kind]`` built at run time (GenericAlias), which the type checker cannot follow; the
# key ties each decoder to its struct, and decode_events gives the result its type.
_event_decoders: dict[type[MarketEvent], msgspec.json.Decoder[list[Any]]] = {
    kind: msgspec.json.Decoder(GenericAlias(list, (kind,))) for kind in EVENT_TYPES.values()
}
_item_decoder = msgspec.json.Decoder(FrameItem)
_encoder = msgspec.json.Encoder()


def decode_frame(raw: bytes | str) -> list[FrameItem]:
    """Decode a whole frame at once (the fast path). Raises ``msgspec.DecodeError``/
    ``msgspec.ValidationError`` when any item is bad (``UnicodeDecodeError`` for a string that
    is not UTF-8, ``RecursionError`` when it nests too deeply); callers then fall back to
    :func:`decode_frame_items` to keep the good items."""
    return _frame_decoder.decode(raw)


def decode_frame_items(raw: bytes | str) -> tuple[list[FrameItem], list[tuple[str, str, object]]]:
    """Decode item by item, returning the good items and ``(kind, message, sample)`` for bad ones.

    ``kind`` is a short stable label for metrics: ``invalid_json``, ``not_array``,
    ``unknown_ev``, ``invalid_event``.
    """
    try:
        items = msgspec.json.decode(raw)
    except (
        msgspec.DecodeError,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:  # not UTF-8; nested too deeply
        return [], [("invalid_json", str(exc), _sample(raw))]
    if not isinstance(items, list):
        return [], [("not_array", "frame is not a JSON array", _sample(raw))]
    good: list[FrameItem] = []
    bad: list[tuple[str, str, object]] = []
    for item in items:
        try:
            good.append(msgspec.convert(item, FrameItem))
        except msgspec.ValidationError as exc:
            ev = item.get("ev") if isinstance(item, dict) else None
            known = ev in {c.value for c in Channel} or ev == "status"
            bad.append(("invalid_event" if known else "unknown_ev", str(exc), item))
    return good, bad


def decode_events(kind: type[EventT], raw: bytes | str) -> list[EventT]:
    """Decode a CloudEvent batch (a JSON array of one channel's events, e.g. ``Trade``)."""
    events: list[EventT] = _event_decoders[kind].decode(raw)
    return events


def encode(obj: object) -> bytes:
    """Encode events, a batch or a frame to JSON bytes exactly as Massive would send them."""
    return _encoder.encode(obj)


def _sample(raw: bytes | str, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text[:limit]
