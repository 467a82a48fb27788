"""The official ``massive`` Python client against the simulator: WebSocket and REST."""

from __future__ import annotations

import asyncio
import logging

from massive import RESTClient, WebSocketClient
from massive.websocket.models import EquityAgg, EquityTrade, LimitUpLimitDown

from stampede.sim.testing import running_simulator
from support.sim import DAY


async def test_official_websocket_client_parses_every_event(caplog) -> None:
    caplog.set_level(logging.WARNING)
    async with running_simulator(
        date=DAY, start="09:29:57", speed=2, symbols=600, seed=5, correction_rate=0.05
    ) as sim:
        client = WebSocketClient(
            api_key=sim.api_key,
            feed=f"127.0.0.1:{sim.port}",
            secure=False,
            subscriptions=["A.*", "T.*", "LULD.*"],
            max_reconnects=0,
        )
        received: list = []
        kinds: set[type] = set()
        closing: list[asyncio.Task] = []

        async def processor(messages: list) -> None:
            received.extend(messages)
            kinds.update(type(m) for m in messages)
            # Close from another task, as an application would: awaiting close() here would
            # stop the client's reads, and once its frame queue is full (a loaded machine,
            # mid-burst) the server's close frame is never read.
            everything = {EquityAgg, EquityTrade, LimitUpLimitDown} <= kinds
            if everything and len(received) > 2000 and not closing:
                closing.append(asyncio.create_task(client.close()))

        # The server's close frame queues behind data already in flight, so allow more than the
        # client's default 1 s for the closing handshake.
        await asyncio.wait_for(client.connect(processor, close_timeout=10), 60)
        await asyncio.gather(*closing)

    assert {EquityAgg, EquityTrade, LimitUpLimitDown} <= kinds
    assert kinds <= {EquityAgg, EquityTrade, LimitUpLimitDown}, kinds
    windows: dict[tuple[str, int], EquityAgg] = {}
    corrected = 0
    for m in received:
        if isinstance(m, EquityAgg):
            first = windows.setdefault((m.symbol, m.start_timestamp), m)
            if first is not m:  # a corrected re-send: more volume in the same window
                assert m.accumulated_volume > first.accumulated_volume and m.volume > first.volume
                corrected += 1
    assert corrected, "the client should have read corrected bars"
    for m in received:
        if isinstance(m, EquityAgg):
            assert (
                m.event_type == "A"
                and m.symbol
                and m.volume > 0
                and m.accumulated_volume >= m.volume
            )
            assert m.low <= min(m.open, m.close) and m.high >= max(m.open, m.close)
            assert m.end_timestamp - m.start_timestamp == 1000
        elif isinstance(m, EquityTrade):
            assert (
                m.symbol
                and m.price > 0
                and m.size > 0
                and m.timestamp
                and m.sequence_number
                and m.id
            )
        else:
            assert m.symbol and m.high_price > m.low_price > 0 and m.timestamp
    problems = [
        r for r in caplog.records if r.name.startswith("massive") or "WebSocketClient" in r.name
    ]
    assert not problems, [r.getMessage() for r in problems]


async def test_official_rest_client_reads_history() -> None:
    async with running_simulator(
        date=DAY, start="10:00", symbols=300, seed=5, history_days=5
    ) as sim:
        rest = RESTClient(api_key=sim.api_key, base=sim.rest_url, retries=0)
        grouped = await asyncio.to_thread(rest.get_grouped_daily_aggs, "2025-03-13")
        prev = await asyncio.to_thread(rest.get_previous_close_agg, "AAPL")
        minutes = await asyncio.to_thread(
            lambda: list(rest.list_aggs("SPY", 1, "minute", "2025-03-13", "2025-03-13"))
        )
        days = await asyncio.to_thread(
            lambda: list(rest.list_aggs("SPY", 1, "day", "2025-03-10", "2025-03-13"))
        )

    assert len(grouped) == 300
    by_ticker = {g.ticker: g for g in grouped}
    aapl = by_ticker["AAPL"]
    assert (
        prev[0].ticker == "AAPL" and prev[0].close == aapl.close and prev[0].volume == aapl.volume
    )
    assert aapl.low <= min(aapl.open, aapl.close) <= max(aapl.open, aapl.close) <= aapl.high
    spy = by_ticker["SPY"]
    # minute bars of a past day add up to its daily bar
    assert sum(m.volume for m in minutes) == spy.volume
    assert max(m.high for m in minutes) == spy.high and min(m.low for m in minutes) == spy.low
    assert [d.close for d in days][-1] == spy.close and len(days) == 4
