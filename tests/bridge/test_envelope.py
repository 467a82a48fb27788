"""The hot-path CloudEvent writer produces exactly what the SDK + NATS binding produce."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.formats.json import JSONFormat

from stampede import nats_binding
from stampede.bridge.batching import Batch
from stampede.bridge.envelope import MSG_ID_HEADER, EnvelopeWriter, FrameStamp, event_id
from stampede.events import RawJSONFormat, market_batch_event
from stampede.market import Channel

SOURCE = "ws://127.0.0.1:8765/stocks"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
DATA = b'[{"ev":"T","sym":"MSFT","p":114.125,"s":100.0,"t":1536036818784}]'


@pytest.mark.parametrize(
    "read_at",
    [
        datetime(2026, 11, 24, 14, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 24, 14, 30, 0, tzinfo=UTC),  # isoformat drops zero microseconds
    ],
)
@pytest.mark.parametrize("channel", list(Channel))
def test_binary_fast_path_equals_the_sdk_binding(channel: Channel, read_at: datetime) -> None:
    batch = Batch(channel, 3, DATA, 1)
    out = EnvelopeWriter(SOURCE, "binary").write(batch, FrameStamp(read_at, TRACEPARENT))
    sdk_event = market_batch_event(
        channel, DATA, SOURCE, event_id=out.event_id, time=read_at, traceparent=TRACEPARENT
    )
    expected = nats_binding.to_binary(sdk_event, RawJSONFormat())
    headers = dict(out.headers)
    assert headers.pop(MSG_ID_HEADER) == out.event_id
    assert headers == expected.headers
    assert out.payload == expected.payload
    assert out.subject == f"stampede.stocks.{channel.value}.3"


@pytest.mark.parametrize("channel", list(Channel))
def test_structured_fast_path_equals_the_sdk_binding(channel: Channel) -> None:
    read_at = datetime(2026, 11, 24, 14, 30, 0, 5000, tzinfo=UTC)
    out = EnvelopeWriter(SOURCE, "structured").write(
        Batch(channel, 0, DATA, 1), FrameStamp(read_at, TRACEPARENT)
    )
    sdk_event = market_batch_event(
        channel,
        json.loads(DATA),
        SOURCE,
        event_id=out.event_id,
        time=read_at,
        traceparent=TRACEPARENT,
    )
    expected = nats_binding.to_structured(sdk_event, JSONFormat())
    assert out.headers == {**expected.headers, MSG_ID_HEADER: out.event_id}
    assert json.loads(out.payload) == json.loads(expected.payload)
    back = nats_binding.from_nats(nats_binding.NATSMessage(out.headers, out.payload), JSONFormat())
    assert back.get_data() == json.loads(DATA) and back.get_time() == read_at


def test_event_id_is_deterministic_and_content_bound() -> None:
    a = Batch(Channel.TRADE, 0, DATA, 1)
    assert event_id(a) == event_id(Batch(Channel.TRADE, 0, bytes(DATA), 1))
    assert event_id(a) != event_id(Batch(Channel.TRADE, 1, DATA, 1))
    assert event_id(a) != event_id(Batch(Channel.AGGREGATE, 0, DATA, 1))
    assert event_id(a) != event_id(Batch(Channel.TRADE, 0, DATA.replace(b"114.125", b"114.126"), 1))


def test_source_with_odd_characters_round_trips() -> None:
    source = "wss://host.example:443/stocks%20x"
    read_at = datetime(2026, 1, 2, tzinfo=UTC)
    for mode, fmt in (("binary", RawJSONFormat()), ("structured", JSONFormat())):
        out = EnvelopeWriter(source, mode).write(
            Batch(Channel.TRADE, 0, DATA, 1), FrameStamp(read_at, TRACEPARENT)
        )
        back = nats_binding.from_nats(nats_binding.NATSMessage(out.headers, out.payload), fmt)
        assert back.get_source() == source
        assert back.get_extension("traceparent") == TRACEPARENT


def test_broker_ttl_extension_is_stamped_in_both_modes() -> None:
    """The eventing-natss route needs Knative's `knativebrokerttl` (its ingress is bypassed)."""
    read_at = datetime(2026, 1, 2, tzinfo=UTC)
    for mode, fmt in (("binary", RawJSONFormat()), ("structured", JSONFormat())):
        out = EnvelopeWriter(SOURCE, mode, broker_ttl=255).write(
            Batch(Channel.TRADE, 0, DATA, 1), FrameStamp(read_at, TRACEPARENT)
        )
        back = nats_binding.from_nats(nats_binding.NATSMessage(out.headers, out.payload), fmt)
        assert str(back.get_extension("knativebrokerttl")) == "255"
        plain = EnvelopeWriter(SOURCE, mode).write(
            Batch(Channel.TRADE, 0, DATA, 1), FrameStamp(read_at, TRACEPARENT)
        )
        unstamped = nats_binding.from_nats(
            nats_binding.NATSMessage(plain.headers, plain.payload), fmt
        )
        assert unstamped.get_extension("knativebrokerttl") is None
