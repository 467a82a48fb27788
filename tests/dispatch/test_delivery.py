"""JetStream -> HTTP delivery against a real nats-server and real HTTP subscribers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from cloudevents.core.bindings import http as ce_http
from nats.js.api import StreamInfo
from prometheus_client import generate_latest

from stampede import metricnames as names
from stampede.dispatch.consumer import missed_before_binding
from stampede.dispatch.dispatcher import Dispatcher
from stampede.dispatch.settings import DispatchSettings
from stampede.dispatch.triggers import load_triggers, routable
from stampede.events import MARKET_EVENT_TYPES, RawJSONFormat
from stampede.market import Channel
from stampede.subjects import DLQ_STREAM, dlq_subject, stream_name
from support.dispatch import (
    Subscriber,
    all_bound,
    eventually,
    jetstream,
    market_stream,
    metric,
    publish,
    running_dispatcher,
    serve_subscriber,
    write_triggers,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRADES = {"name": "momentum", "type": MARKET_EVENT_TYPES[Channel.TRADE]}
AGGREGATES = {"name": "movers", "type": MARKET_EVENT_TYPES[Channel.AGGREGATE]}
TRADE_STREAM = stream_name(Channel.TRADE)


def deliveries(dispatcher, outcome: str) -> float:
    """Deliveries of the momentum trigger that ended with ``outcome`` (ack, nak, dlq, ...)."""
    return metric(dispatcher, names.DISPATCH_DELIVERIES, trigger="momentum", outcome=outcome)


async def dlq_messages(js, function: str, expected: int) -> list:
    sub = await js.pull_subscribe(dlq_subject(function), stream=DLQ_STREAM)
    messages = []
    deadline = time.monotonic() + 10
    while len(messages) < expected and time.monotonic() < deadline:
        try:
            messages += await sub.fetch(expected - len(messages), timeout=0.5)
        except TimeoutError:
            pass
    await sub.unsubscribe()
    return messages


async def test_binary_delivery_preserves_every_attribute_and_data_byte_and_acks(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber()) as fn:
        await js.add_stream(market_stream(Channel.TRADE))
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            ok, detail = await dispatcher.readiness()
            assert ok and detail == "momentum: bound"
            sent = await publish(js, Channel.TRADE, 5, traceparent=TRACEPARENT)
            sent += await publish(js, Channel.TRADE, 2, structured=True)
            await eventually(lambda: len(fn.received) == 7, what="7 deliveries")
            await eventually(lambda: deliveries(dispatcher, "ack") == 7)
            info = await js.consumer_info(TRADE_STREAM, "momentum")
            assert info.num_ack_pending == 0 and info.num_redelivered == 0
            assert (info.config.deliver_policy, info.config.ack_policy) == ("all", "explicit")
            assert info.config.max_ack_pending == 1000
    by_id = {r.headers["ce-id"]: r for r in fn.received}
    for event in sent:
        got = by_id[event.get_id()]
        assert "content-type" in got.headers and got.headers["content-type"] == "application/json"
        received = ce_http.from_binary(ce_http.HTTPMessage(got.headers, got.body), RawJSONFormat())
        assert received.get_attributes() == event.get_attributes()
        assert got.body == event.get_data()  # byte for byte
    assert all(by_id[e.get_id()].headers["ce-traceparent"] == TRACEPARENT for e in sent[:5])


async def test_503_is_retried_with_backoff_then_acked(nats_url: str, tmp_path: Path) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [{**TRADES, "retry": 3, "delay": "PT0.1S"}])
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber(statuses=[503, 503])) as fn:
        await js.add_stream(market_stream(Channel.TRADE))
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            (event,) = await publish(js, Channel.TRADE)
            await eventually(lambda: deliveries(dispatcher, "ack") == 1)
            assert deliveries(dispatcher, "nak") == 2
            assert (
                metric(dispatcher, "stampede_dispatch_redeliveries_total", trigger="momentum") == 2
            )
            assert (
                metric(
                    dispatcher,
                    "http_client_request_duration_seconds_count",
                    trigger="momentum",
                    http_response_status_code="503",
                    error_type="",
                )
                == 2
            )
            assert (await js.consumer_info(TRADE_STREAM, "momentum")).num_ack_pending == 0
    assert [r.headers["ce-id"] for r in fn.received] == [event.get_id()] * 3
    gaps = [b.at - a.at for a, b in zip(fn.received, fn.received[1:])]
    # Knative exponential backoff: 0.1 s * 2^attempt -> at least 0.2 s, then 0.4 s
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38, gaps


async def test_400_goes_to_the_dead_letter_stream_without_retry(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber(statuses=[400])) as fn:
        await js.add_stream(market_stream(Channel.TRADE))
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            (event,) = await publish(js, Channel.TRADE)
            (dead,) = await dlq_messages(js, "momentum", 1)
            # counted right after the dead letter is stored: wait for it, do not race it
            await eventually(lambda: deliveries(dispatcher, "dlq") == 1, what="the dlq count")
            await asyncio.sleep(0.5)  # a retry would come within 0.1 s
            assert len(fn.received) == 1
            assert deliveries(dispatcher, "nak") == 0
    headers = dead.headers
    assert headers["Stampede-Dlq-Reason"] == "rejected"
    assert headers["Stampede-Dlq-Status"] == "400"
    assert headers["Stampede-Dlq-Error"] == "status 400 from test subscribersecond line"
    assert headers["Stampede-Dlq-Subject"] == "stampede.stocks.T.0"
    assert headers["Stampede-Dlq-Deliveries"] == "1"
    assert headers["ce-id"] == event.get_id() and headers["ce-type"] == TRADES["type"]
    assert dead.data == event.get_data()


async def test_exhausted_retries_go_to_the_dead_letter_stream(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [{**TRADES, "retry": 2, "delay": "PT0.02S"}])
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber(statuses=[503] * 10)) as fn:
        await js.add_stream(market_stream(Channel.TRADE))
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            (event,) = await publish(js, Channel.TRADE)
            (dead,) = await dlq_messages(js, "momentum", 1)
            assert deliveries(dispatcher, "nak") == 2
            await eventually(lambda: deliveries(dispatcher, "dlq") == 1, what="the dlq count")
    assert len(fn.received) == 3  # first attempt + retry: 2
    assert dead.headers["Stampede-Dlq-Reason"] == "retries_exhausted"
    assert dead.headers["Stampede-Dlq-Deliveries"] == "3"
    assert dead.headers["Stampede-Dlq-Status"] == "503"
    assert dead.headers["ce-id"] == event.get_id()


async def test_a_down_subscriber_does_not_hold_up_another_trigger(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(
        tmp_path / "t.yaml", [{**TRADES, "retry": 50, "delay": "PT0.05S"}, AGGREGATES]
    )
    from stampede.tools.localstack import free_port

    nobody = f"http://127.0.0.1:{free_port()}"  # connection refused
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber()) as movers:
        await js.add_stream(market_stream(Channel.TRADE))
        await js.add_stream(market_stream(Channel.AGGREGATE))
        async with running_dispatcher(
            nats_url, triggers, {"momentum": nobody, "movers": movers.url}, dispatch_concurrency=4
        ) as dispatcher:
            await all_bound(dispatcher)
            await publish(js, Channel.TRADE, 20)  # more than momentum's concurrency
            sent = await publish(js, Channel.AGGREGATE, 20)
            await eventually(lambda: len(movers.received) == 20, what="movers deliveries")
            assert {r.headers["ce-id"] for r in movers.received} == {e.get_id() for e in sent}
            await eventually(lambda: deliveries(dispatcher, "nak") >= 20)
            assert deliveries(dispatcher, "ack") == 0
            assert (
                metric(
                    dispatcher,
                    "http_client_request_duration_seconds_count",
                    trigger="momentum",
                    http_response_status_code="",
                    error_type="ConnectError",
                )
                >= 20
            )
            assert all(t.done() is False for t in dispatcher._tasks)  # nothing crashed
            await eventually(
                lambda: (
                    metric(dispatcher, "stampede_dispatch_consumer_ack_pending", trigger="momentum")
                    == 20
                ),
                what="lag poll",
            )
            assert (await dispatcher.readiness())[0]


async def test_not_ready_while_starting_though_nats_is_connected(
    nats_url: str, tmp_path: Path
) -> None:
    """NATS connects before the Triggers' workers exist; /readyz in that gap once said ready
    ("no triggers") and then not ready ("starting"): a probe must never see ready too early."""
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    config = DispatchSettings(
        nats_url=nats_url,
        dispatch_triggers_path=triggers,
        dispatch_subscriber_urls="momentum=http://127.0.0.1:9",
    )
    routes = load_triggers(triggers, config.dispatch_namespace, config.subscriber_overrides())
    dispatcher = Dispatcher(config, routable(routes))
    starting = asyncio.create_task(dispatcher.start())
    answers = []
    try:
        while not starting.done():
            answers.append(await dispatcher.readiness())
            await asyncio.sleep(0)
        await starting
        connected = [a for a in answers if a[1] != "NATS not connected"]
        assert connected, "never sampled readiness between connect and started"
        assert set(connected) == {(False, "starting")}
    finally:
        await dispatcher.close()


async def test_waits_for_a_missing_stream_ready_meanwhile_and_exposes_lag(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    async with (
        jetstream(nats_url) as js,
        serve_subscriber(Subscriber(delay=0.3)) as fn,
        running_dispatcher(
            nats_url, triggers, {"momentum": fn.url}, dispatch_concurrency=1, dispatch_fetch_batch=1
        ) as dispatcher,
    ):
        await eventually(lambda: dispatcher.workers[0].state.value == "waiting for stream")
        assert await dispatcher.readiness() == (True, "momentum: waiting for stream")
        await js.add_stream(market_stream(Channel.TRADE))  # the bridge starts later
        await all_bound(dispatcher)
        await publish(js, Channel.TRADE, 10)
        await eventually(
            lambda: metric(dispatcher, names.DISPATCH_CONSUMER_PENDING, trigger="momentum") >= 5,
            what="consumer lag gauge",
        )
        text = generate_latest(dispatcher.metrics.registry).decode()
        assert 'stampede_dispatch_consumer_pending{trigger="momentum"}' in text
        assert 'stampede_dispatch_inflight{trigger="momentum"} 1.0' in text
        await eventually(lambda: len(fn.received) == 10, what="all delivered")
        await eventually(
            lambda: metric(dispatcher, names.DISPATCH_CONSUMER_PENDING, trigger="momentum") == 0
        )


async def test_stop_finishes_in_flight_deliveries(nats_url: str, tmp_path: Path) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber(delay=1.0)) as fn:
        await js.add_stream(market_stream(Channel.TRADE))
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            await publish(js, Channel.TRADE, 3)
            await eventually(lambda: len(fn.received) == 3)
            await dispatcher.close()  # returns after the slow answers came back and were acked
            assert deliveries(dispatcher, "ack") == 3
        info = await js.consumer_info(TRADE_STREAM, "momentum")
        assert info.num_ack_pending == 0 and info.delivered.consumer_seq == 3


async def test_what_aged_out_while_the_dispatcher_was_down_counts_as_expired(
    nats_url: str, tmp_path: Path
) -> None:
    triggers = write_triggers(tmp_path / "t.yaml", [TRADES])
    async with jetstream(nats_url) as js, serve_subscriber(Subscriber()) as fn:
        await js.add_stream(market_stream(Channel.TRADE, max_age=1.0))
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            await publish(js, Channel.TRADE, 2)
            await eventually(lambda: len(fn.received) == 2, what="2 deliveries")
        await publish(js, Channel.TRADE, 4)  # the dispatcher is down: these age out unread
        await eventually(lambda: _aged_out(js), what="the stream aged them out")
        async with running_dispatcher(nats_url, triggers, {"momentum": fn.url}) as dispatcher:
            await all_bound(dispatcher)
            await publish(js, Channel.TRADE, 3)
            await eventually(lambda: len(fn.received) == 5, what="3 more deliveries")
            await eventually(
                lambda: metric(dispatcher, names.DISPATCH_EXPIRED, trigger="momentum") == 4,
                what="the 4 that aged out counted",
            )


async def _aged_out(js) -> bool:
    return (await js.stream_info(TRADE_STREAM)).state.messages == 0


def test_a_new_consumer_counts_expiries_from_the_start_of_a_stream_newer_than_its_dispatcher() -> (
    None
):
    started = time.time()
    info = StreamInfo.from_response(
        {
            "config": {"name": TRADE_STREAM},
            "state": {
                "first_seq": 41,
                "last_seq": 40,
                "messages": 0,
                "bytes": 0,
                "consumer_count": 0,
            },
        }
    )
    info.created = datetime.fromtimestamp(started + 2, UTC)  # after the dispatcher started
    assert missed_before_binding(info, started) == 0  # the 40 aged out were its own
    info.created = datetime.fromtimestamp(started - 3600, UTC)  # an old stream's past
    assert missed_before_binding(info, started) == 40
