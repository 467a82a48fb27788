"""Massive event models and trade-condition rules (pure: no servers)."""

from __future__ import annotations

import msgspec
import pytest

from stampede import conditions, market, markettime, subjects

SPEC_EXAMPLES = [
    b'{"ev":"A","sym":"SPCE","v":200,"av":8642007,"op":25.66,"vw":25.3981,"o":25.39,"c":25.39,'
    b'"h":25.39,"l":25.39,"a":25.3714,"z":50,"s":1610144868000,"e":1610144869000}',
    b'{"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,"c":[0,12],'
    b'"t":1536036818784,"q":3681328}',
    b'{"ev":"Q","sym":"MSFT","bx":4,"bp":114.125,"bs":100,"ax":7,"ap":114.128,"as":160,"c":0,'
    b'"i":[604],"t":1536036818784,"q":50385480,"z":3}',
    b'{"ev":"LULD","T":"MSFT","h":218.96,"l":198.11,"i":[21],"z":3,"t":1601316752683746,"q":290317}',
]


def test_protocol_examples_decode_and_reencode_losslessly() -> None:
    frame = b"[" + b",".join(SPEC_EXAMPLES) + b"]"
    items = market.decode_frame(frame)
    assert [type(i).__name__ for i in items] == ["Aggregate", "Trade", "Quote", "Luld"]
    assert items[0].av == 8642007 and items[0].op == 25.66
    assert items[2].as_ == 160
    assert items[3].sym == "MSFT"
    for raw, item in zip(SPEC_EXAMPLES, items):
        assert msgspec.json.decode(market.encode(item)) == msgspec.json.decode(raw)


def test_bad_items_are_reported_and_good_items_kept() -> None:
    frame = (
        b'[{"ev":"XX","sym":"A"},{"ev":"T","sym":"A","p":"high","s":1,"t":1},'
        + SPEC_EXAMPLES[1]
        + b"]"
    )
    with pytest.raises(msgspec.ValidationError):
        market.decode_frame(frame)
    good, bad = market.decode_frame_items(frame)
    assert [g.sym for g in good] == ["MSFT"]
    assert [kind for kind, _, _ in bad] == ["unknown_ev", "invalid_event"]


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"{not json", "invalid_json"), (b'{"ev":"T"}', "not_array")]
)
def test_unparseable_frames_are_classified(raw: bytes, kind: str) -> None:
    good, bad = market.decode_frame_items(raw)
    assert good == [] and bad[0][0] == kind


def test_timestamp_units_are_inferred_from_digits() -> None:
    assert market.to_millis(1601316752683) == 1601316752683
    assert market.to_millis(1601316752683746) == 1601316752683
    assert market.to_millis(1601316752683746123) == 1601316752683


@pytest.mark.parametrize(
    ("codes", "last", "high_low", "volume"),
    [
        (None, True, True, True),
        ([], True, True, True),
        ([14], True, True, True),  # intermarket sweep: fully eligible
        ([37], False, False, True),  # odd lot
        ([12], False, False, True),  # form T
        ([16], False, False, False),  # official open
        ([5], False, True, True),
        ([14, 37], False, False, True),
    ],
)
def test_trade_condition_rules(codes, last, high_low, volume) -> None:
    e = conditions.eligibility(codes)
    assert (e.last, e.high_low, e.volume) == (last, high_low, volume)


def test_trading_day_and_session_follow_eastern_time() -> None:
    open_ms = 1764340200000  # 2025-11-28 09:30:00 ET (EST)
    assert markettime.trading_day(open_ms) == "2025-11-28"
    assert markettime.session_of(open_ms) is markettime.Session.REGULAR
    assert markettime.session_of(open_ms - 1) is markettime.Session.PREMARKET
    assert markettime.seconds_since_midnight_et(open_ms) == 9 * 3600 + 30 * 60


def test_calendar_knows_holidays_and_early_closes() -> None:
    from datetime import date

    assert not markettime.is_trading_day(date(2025, 11, 27))  # Thanksgiving
    assert markettime.previous_trading_day(date(2025, 11, 28)) == date(2025, 11, 26)
    assert markettime.regular_close(date(2025, 11, 28)).hour == 13  # early close


def test_shards_are_stable_and_bounded() -> None:
    assert subjects.shard_of("AAPL", 1) == 0
    shards = {subjects.shard_of(f"S{i}", 4) for i in range(100)}
    assert shards == {0, 1, 2, 3}
    assert subjects.shard_of("AAPL", 4) == subjects.shard_of("AAPL", 4)
    assert subjects.subject(market.Channel.TRADE, 2) == "stampede.stocks.T.2"
