"""Frame -> per-channel (per-shard) batches: the pure part of the hot path.

A Massive frame mixes channels (and status objects). Each channel(/shard) becomes one batch:
the JSON array of that channel's events, decoded with the typed msgspec structs (so malformed
events are caught here, once) and re-encoded with ``stampede.market.encode``. The whole frame
is decoded in one call first; only a frame with a bad item pays for the per-item fallback,
which keeps the good items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from stampede.market import (
    EVENT_TYPES,
    Channel,
    FrameItem,
    Status,
    decode_frame,
    decode_frame_items,
    encode,
)
from stampede.subjects import shard_of

CHANNEL_OF_CLASS: dict[type[FrameItem], Channel] = {cls: ch for ch, cls in EVENT_TYPES.items()}


@dataclass(slots=True)
class Batch:
    """One channel's (one shard's) events from one frame, as JSON array bytes."""

    channel: Channel
    shard: int
    data: bytes
    count: int


@dataclass(slots=True)
class ParsedFrame:
    batches: list[Batch] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    problems: list[tuple[str, str, object]] = field(default_factory=list)  # (kind, message, sample)


def parse_frame(raw: bytes, shards: int = 1) -> ParsedFrame:
    """Decode a raw frame and group its market events by channel and shard."""
    parsed = ParsedFrame()
    try:
        items = decode_frame(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        items, parsed.problems = decode_frame_items(raw)
    # Keyed by class alone when unsharded (no tuple per item on the hot path), else (class, shard).
    groups: dict[type[FrameItem] | tuple[type[FrameItem], int], list[FrameItem]] = {}
    if shards <= 1:
        for item in items:
            cls = item.__class__
            group = groups.get(cls)
            if group is None:
                groups[cls] = group = []
            group.append(item)
    else:
        for item in items:
            cls = item.__class__
            key = (cls, 0) if isinstance(item, Status) else (cls, shard_of(item.sym, shards))
            group = groups.get(key)
            if group is None:
                groups[key] = group = []
            group.append(item)
    for grouping, group in groups.items():
        cls, shard = grouping if isinstance(grouping, tuple) else (grouping, 0)
        if cls is Status:
            parsed.statuses.extend(item for item in group if isinstance(item, Status))
        else:
            parsed.batches.append(Batch(CHANNEL_OF_CLASS[cls], shard, encode(group), len(group)))
    return parsed
