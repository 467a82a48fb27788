"""The NATS binding against the CloudEvents spec, checked through a real nats-server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import nats
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from stampede import nats_binding
from stampede.events import MARKET_EVENT_TYPES, RawJSONFormat, market_batch_event
from stampede.market import Channel


def _event() -> CloudEvent:
    return market_batch_event(
        Channel.TRADE,
        b'[{"ev":"T","sym":"MSFT","p":114.125,"s":100,"t":1536036818784}]',
        "wss://socket.massive.com/stocks",
        event_id="abc-1",
        time=datetime(2026, 11, 24, 14, 30, 0, 123000, tzinfo=UTC),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def test_binary_mode_headers_follow_the_spec() -> None:
    message = nats_binding.to_binary(_event(), RawJSONFormat())
    assert message.headers["ce-specversion"] == "1.0"
    assert message.headers["ce-type"] == "dev.stampede.stocks.trade.v1"
    assert message.headers["ce-id"] == "abc-1"
    assert message.headers["ce-traceparent"].startswith("00-0af7651916cd43dd")
    assert message.headers["content-type"] == "application/json"
    assert "ce-datacontenttype" not in message.headers
    assert message.payload.startswith(b'[{"ev":"T"')


async def test_binary_round_trip_through_nats(nats_url: str) -> None:
    sent = _event()
    nc = await nats.connect(nats_url)
    sub = await nc.subscribe("ce.test")
    out = nats_binding.to_binary(sent, RawJSONFormat())
    await nc.publish("ce.test", out.payload, headers=out.headers)
    msg = await sub.next_msg(timeout=5)
    await nc.close()
    got = nats_binding.from_nats(
        nats_binding.NATSMessage(headers=msg.headers or {}, payload=msg.data), RawJSONFormat()
    )
    assert got.get_attributes() == sent.get_attributes()
    assert got.get_data() == sent.get_data()


async def test_structured_round_trip_through_nats(nats_url: str) -> None:
    sent = CloudEvent(
        {
            "type": "dev.stampede.refdata.load.v1",
            "source": "/test",
            "id": "x-2",
            "datacontenttype": "application/json",
        },
        {"date": "2026-11-24"},
    )
    nc = await nats.connect(nats_url)
    sub = await nc.subscribe("ce.structured")
    out = nats_binding.to_structured(sent, JSONFormat())
    await nc.publish("ce.structured", out.payload, headers=out.headers)
    msg = await sub.next_msg(timeout=5)
    await nc.close()
    assert msg.headers["content-type"] == "application/cloudevents+json"
    assert json.loads(msg.data)["data"] == {"date": "2026-11-24"}
    got = nats_binding.from_nats(
        nats_binding.NATSMessage(headers=msg.headers, payload=msg.data), JSONFormat()
    )
    assert got.get_type() == "dev.stampede.refdata.load.v1"
    assert got.get_data() == {"date": "2026-11-24"}


@pytest.mark.parametrize("channel", list(Channel))
def test_every_channel_has_a_versioned_type(channel: Channel) -> None:
    assert MARKET_EVENT_TYPES[channel].startswith("dev.stampede.stocks.")
    assert MARKET_EVENT_TYPES[channel].endswith(".v1")
