"""Hypothesis strategies for hostile input: JSON that is wrong in every way a peer can get it wrong.

Shared by the fuzz tests (unique module name: test folders are not packages).
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

CHANNELS = ("A", "AM", "T", "Q", "LULD", "NOI")
FIELDS = (
    "sym",
    "T",
    "p",
    "s",
    "t",
    "q",
    "c",
    "x",
    "i",
    "z",
    "v",
    "av",
    "op",
    "vw",
    "o",
    "h",
    "l",
    "a",
    "e",
    "bp",
    "ap",
    "bs",
    "as",
)

# Raw JSON number spellings a typed decoder must survive (huge, tiny, negative zero, exponents).
huge_numbers = st.sampled_from(
    [
        "1" + "0" * 400,
        "-" + "9" * 320,
        "1e400",
        "-1e-400",
        "-0",
        "0.0000000000000000000001",
        "18446744073709551616",
        "-9223372036854775809",
        "1E+99999",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def event_like(draw: st.DrawFn) -> dict:
    """Something shaped like a Massive event, with fields missing, extra or of the wrong type."""
    ev = draw(st.one_of(st.sampled_from(CHANNELS), st.text(max_size=6), st.integers(), st.none()))
    item: dict = {"ev": ev}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=10, unique=True)):
        item[name] = draw(json_values)
    return item


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def hostile_frames(draw: st.DrawFn) -> bytes:
    """One WebSocket frame's payload: bytes, broken JSON, or an array of odd events."""
    kind = draw(
        st.sampled_from(["bytes", "json", "events", "nested", "numbers", "non_utf8", "truncated"])
    )
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "events":
        return json.dumps(draw(st.lists(event_like(), max_size=6))).encode()
    if kind == "nested":
        depth = draw(st.sampled_from([64, 1000, 5000, 100_000]))
        return f'[{{"ev":"T","sym":{_nest(depth)}}}]'.encode()
    if kind == "numbers":
        number = draw(huge_numbers)
        field = draw(st.sampled_from(["p", "s", "t", "q", "c", "x"]))
        return f'[{{"ev":"T","sym":"ZZZ","p":1.5,"s":1,"t":1,"q":1,"{field}":{number}}}]'.encode()
    if kind == "non_utf8":
        junk = draw(st.binary(min_size=1, max_size=8).filter(lambda b: _not_utf8(b)))
        return b'[{"ev":"T","sym":"' + junk + b'","p":1.5,"s":1,"t":1,"q":1}]'
    good = json.dumps(draw(st.lists(event_like(), min_size=1, max_size=3))).encode()
    return good[: draw(st.integers(0, max(0, len(good) - 1)))]


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
