"""The diff algorithm and the row/filter/message logic, without I/O."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stampede.gateway import messages, replies
from stampede.gateway.diff import Diff, apply, diff, from_wire
from stampede.gateway.messages import ProtocolError
from stampede.gateway.rows import wire_row, wire_value
from stampede.gateway.scans import Filters, Spec

SYMBOLS = [f"S{i}" for i in range(12)]
values = st.one_of(
    st.integers(-5, 5), st.floats(-10, 10, allow_nan=False), st.booleans(), st.text(max_size=3)
)
fields = st.dictionaries(
    st.sampled_from(["last", "volume", "halted", "rvol", "x"]), values, max_size=5
)


@st.composite
def boards(draw):
    syms = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=len(SYMBOLS)))
    return [{"sym": s, **draw(fields)} for s in syms]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boards(), boards())
def test_apply_diff_gives_the_new_board(a, b):
    assert apply(diff(a, b), a) == b


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boards(), boards())
def test_diff_survives_the_wire_format(a, b):
    import orjson

    wire = orjson.loads(orjson.dumps(diff(a, b).to_wire()))
    assert apply(from_wire(wire), a) == b


@given(boards())
def test_no_change_is_an_empty_diff(a):
    assert not diff(a, [dict(r) for r in a])


def test_diff_names_what_happened():
    a = [{"sym": "A", "last": 1}, {"sym": "B", "last": 2}, {"sym": "C", "last": 3}]
    b = [{"sym": "C", "last": 3}, {"sym": "A", "last": 1.5}, {"sym": "D", "last": 9}]
    d = diff(a, b)
    assert d.removed == ["B"]
    assert d.added == [(2, {"sym": "D", "last": 9})]
    assert d.moved == [("C", 0), ("A", 1)]
    assert d.changed == [("A", {"last": 1.5}, [])]


def test_unknown_field_is_unset_not_guessed():
    d = diff([{"sym": "A", "rvol": 3.0}], [{"sym": "A"}])
    assert d.changed == [("A", {}, ["rvol"])]


def test_a_diff_that_does_not_fit_is_refused():
    with pytest.raises(ValueError):
        apply(Diff(moved=[("Z", 0)]), [{"sym": "A"}])
    with pytest.raises(ValueError):
        apply(Diff(added=[(5, {"sym": "Q"})]), [{"sym": "A"}])
    with pytest.raises(ValueError):
        apply(Diff(changed=[("Q", {"last": 1}, [])]), [{"sym": "A"}])


def test_wire_values_from_redis_strings():
    assert wire_value("last", "12.50") == 12.5
    assert wire_value("volume", "1500") == 1500 and isinstance(wire_value("volume", "1500"), int)
    assert wire_value("halted", "1") is True and wire_value("has_reference", "0") is False
    assert wire_value("rvol", "nan") is None and wire_value("rvol", "abc") is None
    row = wire_row("ABC", {"sym": "ABC", "last": "3.5", "change_pct": "garbage", "junk": "1"})
    assert row == {"sym": "ABC", "last": 3.5}


def test_filters_keep_the_board_order_and_drop_unknowns():
    rows = [
        {"sym": "A", "last": 0.5, "volume": 9e6},
        {"sym": "B", "last": 5, "volume": 2e6},
        {"sym": "C"},
        {"sym": "D", "last": 7, "volume": 10},
        {"sym": "E", "last": 9, "volume": 3e6},
    ]
    spec = Spec("gainers", 2, Filters.parse({"min_price": 1, "max_price": 20, "min_volume": 1e6}))
    assert [r["sym"] for r in spec.select(rows)] == ["B", "E"]
    assert [r["sym"] for r in Spec("gainers", 3).select(rows)] == ["A", "B", "C"]
    assert spec.depth(250) == 250 and Spec("gainers", 3).depth(250) == 3


@pytest.mark.parametrize(
    "text, code",
    [
        ("{nope", "bad_json"),
        ("[1, 2]", "bad_request"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "subscribe", "id": "a"}', "bad_request"),
        ('{"type": "subscribe", "id": "a", "board": "gainers", "limit": "ten"}', "bad_request"),
        (
            '{"type": "subscribe", "id": "a", "board": "gainers", "filters": {"min_price": -1}}',
            "bad_request",
        ),
        ('{"type": "subscribe", "id": "a", "board": "gainers", "colour": "red"}', "bad_request"),
    ],
)
def test_bad_client_messages_get_a_code(text, code):
    with pytest.raises(ProtocolError) as info:
        messages.parse(text)
    assert info.value.code == code
    assert info.value.message


def test_subscription_is_checked_against_the_catalogue_and_limits():
    ok = messages.parse(
        '{"type":"subscribe","id":"g","board":"gainers","limit":5,'
        '"filters":{"min_price":1,"max_price":20}}'
    )
    assert messages.spec_of(ok, 100) == Spec(
        "gainers", 5, Filters.parse({"max_price": 20, "min_price": 1})
    )
    for text, code in [
        ('{"type":"subscribe","id":"g","board":"nope"}', "unknown_board"),
        ('{"type":"subscribe","id":"g","board":"gainers","limit":101}', "bad_request"),
        (
            '{"type":"subscribe","id":"g","board":"gainers","filters":{"min_price":5,"max_price":1}}',
            "bad_request",
        ),
    ]:
        with pytest.raises(ProtocolError) as info:
            messages.spec_of(messages.parse(text), 100)
        assert info.value.code == code and info.value.sub_id == "g"


def test_addressed_splices_the_id_into_a_board_message_encoded_once():
    shared = replies.encode(
        replies.Diff(
            seq=3,
            board="gainers",
            day="2025-03-14",
            tick_ms=1,
            exchange_ms=None,
            received_ms=2,
            removed=["A"],
            added=[replies.Added(0, {"sym": "B", "last": 1.5})],
            moved=[("C", 1)],
            changed=[replies.Changed("C", {"last": 2}, ["rvol"])],
        )
    )
    assert '"id"' not in shared
    message = orjson.loads(replies.addressed(shared, 'we"ird'))
    assert message["type"] == "diff" and message["id"] == 'we"ird' and message["seq"] == 3
    assert message["exchange_ms"] is None and message["moved"] == [["C", 1]]
    assert apply(from_wire(message), [{"sym": "A"}, {"sym": "C", "last": 1, "rvol": 2}]) == [
        {"sym": "B", "last": 1.5},
        {"sym": "C", "last": 2},
    ]


@pytest.mark.parametrize("bad_id", ["", "x" * 65, 7, None])
def test_an_invalid_id_is_never_echoed_in_the_error(bad_id):
    with pytest.raises(ProtocolError) as info:
        messages.parse(orjson.dumps({"type": "subscribe", "id": bad_id, "board": "gainers"}))
    assert info.value.code == "bad_request" and info.value.sub_id is None
    with pytest.raises(ProtocolError) as info:
        messages.parse(orjson.dumps({"type": "subscribe", "id": "x" * 64, "board": 1}))
    assert info.value.sub_id == "x" * 64  # a valid id names the subscription the error is about
