"""Frames become per-channel (per-shard) batches; malformed items are reported, good ones kept."""

from __future__ import annotations

import msgspec

from stampede.bridge.batching import parse_frame
from stampede.market import EVENT_TYPES, Channel, Status, decode_events
from stampede.subjects import shard_of

TRADE = {
    "ev": "T",
    "sym": "MSFT",
    "x": 4,
    "i": "12345",
    "z": 3,
    "p": 114.125,
    "s": 100,
    "c": [0, 12],
    "t": 1536036818784,
    "q": 3681328,
}
AGG = {
    "ev": "A",
    "sym": "SPCE",
    "v": 200,
    "av": 8642007,
    "op": 25.66,
    "vw": 25.3981,
    "o": 25.39,
    "c": 25.39,
    "h": 25.39,
    "l": 25.39,
    "a": 25.3714,
    "z": 50,
    "s": 1610144868000,
    "e": 1610144869000,
}
LULD = {
    "ev": "LULD",
    "T": "MSFT",
    "h": 218.96,
    "l": 198.11,
    "i": [21],
    "z": 3,
    "t": 1601316752683746,
    "q": 290317,
}


def frame(*items: object) -> bytes:
    return msgspec.json.encode(list(items))


def values(channel: Channel, data: bytes) -> list[dict]:
    return [msgspec.to_builtins(e) for e in decode_events(EVENT_TYPES[channel], data)]


def test_one_batch_per_channel_with_the_same_values() -> None:
    trade2 = {**TRADE, "sym": "AAPL", "p": 190.5, "q": 7}
    parsed = parse_frame(frame(TRADE, AGG, trade2, LULD))
    by_channel = {b.channel: b for b in parsed.batches}
    assert set(by_channel) == {Channel.TRADE, Channel.AGGREGATE, Channel.LULD}
    assert by_channel[Channel.TRADE].count == 2
    trades = msgspec.json.decode(by_channel[Channel.TRADE].data)
    assert [t["sym"] for t in trades] == ["MSFT", "AAPL"]
    assert trades[0] == TRADE  # same keys and values as Massive sent
    assert msgspec.json.decode(by_channel[Channel.LULD].data) == [LULD]
    agg = msgspec.json.decode(by_channel[Channel.AGGREGATE].data)[0]
    assert {
        k: float(v) if isinstance(v, (int, float)) and k not in ("s", "e") else v
        for k, v in AGG.items()
    } == agg
    assert parsed.problems == [] and parsed.statuses == []


def test_status_items_are_not_batches() -> None:
    parsed = parse_frame(
        frame({"ev": "status", "status": "success", "message": "subscribed to: T.*"}, TRADE)
    )
    assert [b.channel for b in parsed.batches] == [Channel.TRADE]
    assert parsed.statuses == [Status("success", "subscribed to: T.*")]


def test_shards_split_a_channel_by_symbol() -> None:
    symbols = [f"S{i}" for i in range(40)]
    parsed = parse_frame(frame(*[{**TRADE, "sym": s} for s in symbols]), shards=4)
    seen = {}
    for batch in parsed.batches:
        for trade in msgspec.json.decode(batch.data):
            assert shard_of(trade["sym"], 4) == batch.shard
            seen[trade["sym"]] = batch.shard
    assert sorted(seen) == sorted(symbols)
    assert len({b.shard for b in parsed.batches}) > 1


def test_bad_items_are_reported_and_good_items_kept() -> None:
    raw = frame(
        TRADE,
        {"ev": "XYZ", "sym": "A"},
        {**TRADE, "p": "cheap"},
        {"ev": "T", "sym": "NOPRICE"},
        AGG,
    )
    parsed = parse_frame(raw)
    assert sorted(k for k, _, _ in parsed.problems) == [
        "invalid_event",
        "invalid_event",
        "unknown_ev",
    ]
    assert {b.channel: b.count for b in parsed.batches} == {Channel.TRADE: 1, Channel.AGGREGATE: 1}


def test_whole_frame_problems() -> None:
    assert [k for k, _, _ in parse_frame(b'[{"ev":"T",').problems] == ["invalid_json"]
    assert [k for k, _, _ in parse_frame(b'{"ev":"T"}').problems] == ["not_array"]
    assert parse_frame(b"[]").batches == []
