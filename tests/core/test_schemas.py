"""The committed CloudEvent data schemas are exactly what the decoding structs accept."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from stampede import market
from stampede.events import MARKET_EVENT_TYPES, batch_json_schema
from stampede.market import Channel

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


@pytest.mark.parametrize("channel", list(Channel))
def test_committed_schema_matches_the_code(channel: Channel) -> None:
    path = SCHEMAS / f"{MARKET_EVENT_TYPES[channel].removeprefix('dev.stampede.')}.json"
    assert json.loads(path.read_text()) == batch_json_schema(channel), (
        f"{path} is stale: regenerate it from stampede.events.batch_json_schema"
    )


def test_schema_accepts_protocol_example_and_rejects_bad_types() -> None:
    schema = batch_json_schema(Channel.TRADE)
    good = [
        {
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
    ]
    jsonschema.validate(good, schema)
    assert market.decode_events(market.Trade, json.dumps(good))[0].p == 114.125
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{**good[0], "p": "114"}], schema)
