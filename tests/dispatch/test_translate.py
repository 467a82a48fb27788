"""NATS -> HTTP binary mode: the header copy equals the SDK's conversion; answer classification."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent

from stampede.dispatch.translate import Verdict, dead_letter_headers, to_http, verdict
from stampede.events import RawJSONFormat, market_batch_event
from stampede.market import Channel
from stampede.nats_binding import NATSMessage, from_nats, to_binary, to_structured

FORMAT = RawJSONFormat()
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DATA = b'[{"ev":"T","sym":"BRK.B","p":412.5,"c":[12,37],"t":1733149800123}]'


def sample_event() -> CloudEvent:
    return market_batch_event(
        Channel.TRADE,
        DATA,
        "/stampede/bridge/ü pod 1",
        event_id="e-1",
        time=datetime(2024, 12, 2, 14, 30, 0, 123456, tzinfo=UTC),
        traceparent=TRACEPARENT,
    )


def test_binary_nats_headers_become_exactly_the_sdk_http_binary_headers() -> None:
    event = sample_event()
    nats_message = to_binary(event, FORMAT)
    headers, body = to_http(
        {**nats_message.headers, "Nats-Msg-Id": "dedup-1"}, nats_message.payload
    )
    expected = ce_http.to_binary(event, FORMAT)
    assert headers == expected.headers
    assert body == DATA  # the very same bytes
    assert headers["ce-traceparent"] == TRACEPARENT
    assert "nats-msg-id" not in headers
    back = ce_http.from_binary(ce_http.HTTPMessage(headers, body), FORMAT)
    assert back.get_attributes() == event.get_attributes()
    assert back.get_data() == DATA


def test_the_copy_equals_the_sdk_path_through_from_nats() -> None:
    """The faithful header-level translation == decode with from_nats, encode with the SDK."""
    nats_message = to_binary(sample_event(), FORMAT)
    via_sdk = ce_http.to_binary(
        from_nats(NATSMessage(nats_message.headers, nats_message.payload), FORMAT), FORMAT
    )
    assert to_http(nats_message.headers, nats_message.payload) == (via_sdk.headers, via_sdk.body)


def test_structured_nats_messages_are_delivered_in_binary_mode() -> None:
    event = sample_event()
    nats_message = to_structured(event, FORMAT)
    headers, body = to_http(nats_message.headers, nats_message.payload)
    assert headers["content-type"] == "application/json"
    assert {k: headers[k] for k in ("ce-id", "ce-type", "ce-traceparent", "ce-specversion")} == {
        "ce-id": "e-1",
        "ce-type": "dev.stampede.stocks.trade.v1",
        "ce-traceparent": TRACEPARENT,
        "ce-specversion": "1.0",
    }
    back = ce_http.from_binary(ce_http.HTTPMessage(headers, body), FORMAT)
    assert back.get_attributes() == event.get_attributes()
    assert json.loads(body) == json.loads(DATA)


@pytest.mark.parametrize(
    "status, expected",
    [
        (200, Verdict.ACK),
        (202, Verdict.ACK),
        (204, Verdict.ACK),
        (None, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (504, Verdict.RETRY),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (400, Verdict.REJECT),
        (404, Verdict.REJECT),
        (413, Verdict.REJECT),
        (302, Verdict.REJECT),
    ],
)
def test_knative_jetstream_ack_rules(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_dead_letter_headers_keep_the_event_and_say_why() -> None:
    original = {"ce-id": "e-1", "content-type": "application/json", "Nats-Msg-Id": "bridge-dedup"}
    headers = dead_letter_headers(
        original,
        reason="rejected",
        trigger="momentum",
        destination="http://momentum/",
        subject="stampede.stocks.T.0",
        stream_sequence=42,
        deliveries=1,
        status=400,
        error="bad batch\r\nInjected-Header: x" + "y" * 1000,
    )
    assert headers["ce-id"] == "e-1" and headers["content-type"] == "application/json"
    assert headers["Nats-Msg-Id"] == "momentum:stampede.stocks.T.0:42"
    assert headers["Stampede-Dlq-Status"] == "400"
    assert headers["Stampede-Dlq-Subject"] == "stampede.stocks.T.0"
    assert headers["Stampede-Dlq-Error"].startswith("bad batchInjected-Header: x")
    assert "\r" not in headers["Stampede-Dlq-Error"] and len(headers["Stampede-Dlq-Error"]) <= 512
