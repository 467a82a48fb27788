"""Every trade CloudEvent put on the bus, recorded on core NATS: what the crash tests compare
the functions' work with (nothing counted twice, nothing lost without a count)."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats

from stampede.conditions import eligibility
from stampede.market import Trade


class TradeRecorder:
    """Every trade CloudEvent the bridge publishes, once per CloudEvent id (core NATS)."""

    def __init__(self) -> None:
        self.by_id: dict[str, bytes] = {}
        self.copies = 0
        self.nc: nats.NATS | None = None
        self.started_ms = 0  # trades of later seconds are all recorded

    async def start(self, url: str) -> None:
        self.nc = await nats.connect(
            url.split(","),  # one server, or a cluster's nodes
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            pending_size=256 * 1024 * 1024,
        )

        async def on_message(msg: Any) -> None:
            self.copies += 1
            self.by_id.setdefault(msg.headers["ce-id"], msg.data)

        await self.nc.subscribe(
            "stampede.stocks.T.>", cb=on_message, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        await self.nc.flush()
        self.started_ms = int(time.time() * 1000)

    async def stop(self) -> None:
        if self.nc is not None:
            await self.nc.close()

    def eligible_counts(self) -> Counter[tuple[str, int]]:
        """(symbol, Unix second) -> trades that count toward trade counts (volume-eligible)."""
        counts: Counter[tuple[str, int]] = Counter()
        for data in self.by_id.values():
            for trade in msgspec.json.decode(data, type=list[Trade]):
                if eligibility(trade.c).volume:
                    counts[(trade.sym, trade.t // 1000)] += 1
        return counts


@contextlib.asynccontextmanager
async def recording(nats_url: str) -> AsyncIterator[TradeRecorder]:
    recorder = TradeRecorder()
    await recorder.start(nats_url)
    try:
        yield recorder
    finally:
        await recorder.stop()
