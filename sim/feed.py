"""The send loop: advance the model with the simulated clock and fan events out to clients.

Every tick (``sim_tick_ms`` of wall time) it generates the seconds the clock has reached,
releases what is due — trades, quotes, LULD and imbalances at their own time, ``A`` bars
``agg_delay_ms`` after their second, ``AM`` bars after their minute — and gives each
authenticated client only the channels and tickers it subscribed to, packed into frames of up
to ``frame_events`` events that mix channels, as Massive's frames do. Events are encoded once
per tick for all clients, and only those some client wants.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import numpy as np

from stampede import markettime
from stampede.market import Channel
from stampede.sim.client import Client
from stampede.sim.clock import SimClock, seconds_of_day
from stampede.sim.columns import Columns
from stampede.sim.metrics import SimMetrics
from stampede.sim.model import MarketModel, SecondOutput
from stampede.sim.replay import Recorder, ReplaySource

log = logging.getLogger(__name__)
TIMED = (Channel.TRADE, Channel.QUOTE, Channel.LULD, Channel.IMBALANCE)
MAX_SECONDS_PER_TICK = 120
SECONDS_PER_DAY = 86_400


class Feed:
    def __init__(
        self,
        clock: SimClock,
        symbols: list[str],
        metrics: SimMetrics,
        *,
        model: MarketModel | None = None,
        replay: ReplaySource | None = None,
        agg_delay_ms: int = 2000,
        tick_ms: int = 50,
        frame_events: int = 500,
        recorder: Recorder | None = None,
    ) -> None:
        self.clock, self.symbols, self.metrics = clock, symbols, metrics
        self.model, self.replay, self.recorder = model, replay, recorder
        self.agg_delay_ms, self.tick_s, self.frame_events = (
            agg_delay_ms,
            tick_ms / 1000,
            frame_events,
        )
        self.clients: set[Client] = set()
        self._timed: collections.deque[list[Any]] = collections.deque()  # [Columns, cursor]
        self._delayed: collections.deque[tuple[int, Columns]] = (
            collections.deque()
        )  # (release ms, bars)
        self.next_second = 0
        self.ticks = 0
        # Called when the clock has passed midnight and the old day is fully generated: the
        # new day's model, or None when that day has no session (the feed then stays closed).
        self.on_new_day: Callable[[date], MarketModel | None] | None = None
        self._closed_day: date | None = None
        self._replay_started = False
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        """Fast-forward the model to the clock's start (pre-roll of the start minute included)."""
        if self.model is None:
            return
        start_ms = self.clock.start_ms  # not now: at high speed the clock ran while we built
        start_s = seconds_of_day(start_ms)
        if not self.model.rate:  # load mode starts from nothing: no history to catch up
            # Bars of the last few seconds are still to be sent at the start: simulate those
            # seconds in full; everything before them is fast-forwarded without events.
            fine = min(start_s % 60, self.agg_delay_ms // 1000 + 2)
            self.model.fast_forward(start_s - fine)
            for s in range(start_s - fine, start_s):
                self._queue(self.model.step(s))
        self.next_second = start_s
        self._release(start_ms)  # drop what was due before the start: nobody was connected

    def _queue(self, out: SecondOutput) -> None:
        for batch in out.batches():
            if batch.channel in TIMED:
                self._timed.append([batch, 0])
            else:
                self._delayed.append((int(batch.time[0]) + self.agg_delay_ms, batch))

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        while not self._stop.is_set():
            started = asyncio.get_running_loop().time()
            try:
                self.tick()
            except Exception:  # keep serving; a generator bug is logged, not fatal
                log.exception("tick failed")
            self.ticks += 1
            elapsed = asyncio.get_running_loop().time() - started
            try:
                await asyncio.wait_for(self._stop.wait(), max(0.0, self.tick_s - elapsed))
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> None:
        if self.clock.held:  # ``sim_hold_clock``: nothing happens until /_sim/clock/start
            return
        if self.replay is not None:
            if not self._replay_started:
                # A recording is played to someone: its clock starts at the first subscription.
                if not any(c.authenticated and c.subs.channels for c in self.clients):
                    return
                self.clock.restart(self.replay.start_ms)
                self._replay_started = True
            self._deliver_replay(self.replay.due(self.clock.now_ms()))
            return
        now = self.clock.now_ms()
        if self.model is None:
            return
        day = markettime.et_datetime(now).date()
        if day > self.model.day and self.next_second >= SECONDS_PER_DAY:
            self._roll_day(day)
        target = seconds_of_day(now) if day == self.model.day else SECONDS_PER_DAY - 1
        generated = 0
        while (
            self.next_second <= target
            and self.next_second < SECONDS_PER_DAY
            and generated < MAX_SECONDS_PER_TICK
        ):
            self._queue(self.model.step(self.next_second))
            self.next_second += 1
            generated += 1
        self._deliver(self._release(now))

    def _roll_day(self, day: date) -> None:
        if self.on_new_day is None or day == self._closed_day:
            return
        model = self.on_new_day(day)
        if model is None:
            self._closed_day = day  # a weekend or holiday: ask again the next calendar day
            return
        self.model, self.next_second = model, 0

    def _release(self, now: int) -> list[Columns]:
        due: list[Columns] = []
        for entry in self._timed:  # a few seconds' batches at most
            batch, cursor = entry
            end = int(np.searchsorted(batch.time, now, side="right"))
            if end > cursor:
                due.append(batch.slice(cursor, end))
                entry[1] = end
        while self._timed and self._timed[0][1] >= len(self._timed[0][0]):
            self._timed.popleft()
        while self._delayed and self._delayed[0][0] <= now:
            due.append(self._delayed.popleft()[1])
        return due

    # ------------------------------------------------------------------ fan-out
    def _deliver(self, batches: Iterable[Columns]) -> None:
        clients = [c for c in self.clients if c.authenticated]
        if not clients:
            return
        pending: dict[Client, list[bytes]] = {c: [] for c in clients}
        for batch in batches:
            subs = [(c, s) for c in clients if (s := c.subs.get(batch.channel)) is not None]
            if not subs:
                continue
            if any(s.wildcard for _, s in subs):
                sel = None
                items = batch.encode(self.symbols)
                rows_sym = batch.sym
            else:
                union = np.zeros(len(batch), dtype=bool)
                for _, s in subs:
                    union |= s.mask[batch.sym]
                sel = np.nonzero(union)[0]
                if not len(sel):
                    continue
                items = batch.encode(self.symbols, sel)
                rows_sym = batch.sym[sel]
            for client, sub in subs:
                if sub.wildcard:
                    mine, rows = items, None
                else:
                    keep = sub.mask[rows_sym]
                    mine = list(itertools.compress(items, keep.tolist()))
                    rows = np.nonzero(keep)[0] if sel is None else sel[keep]
                if not mine:
                    continue
                pending[client].extend(mine)
                self.metrics.events.labels(batch.channel.value).inc(len(mine))
                if batch.channel is Channel.AGGREGATE and client.truth is not None:
                    client.truth.apply_bars(batch, rows)
        for client, items in pending.items():
            self._send_items(client, items)

    def _send_items(self, client: Client, items: list[bytes]) -> None:
        step = self.frame_events
        for i in range(0, len(items), step):
            frame = b"[" + b",".join(items[i : i + step]) + b"]"
            if not client.push(frame):
                return
            if self.recorder is not None and client.key is not None:
                self.recorder.write(self.clock.now_ms(), frame)

    def _deliver_replay(self, frames: list[tuple[bytes, list[dict[str, Any]]]]) -> None:
        clients = [c for c in self.clients if c.authenticated]
        for client in clients:
            for raw, items in frames:
                kept = [it for it in items if _wanted(client, it)]
                if not kept:
                    continue
                frame = raw if len(kept) == len(items) else _encode_list(kept)
                for it in kept:
                    if it.get("ev") == "A" and client.truth is not None:
                        client.truth.apply_item(it)
                    self.metrics.events.labels(str(it.get("ev"))).inc()
                if not client.push(frame):
                    break


def _wanted(client: Client, item: dict[str, Any]) -> bool:
    ev = item.get("ev")
    try:
        sub = client.subs.get(Channel(ev))
    except ValueError:
        return False
    if sub is None:
        return False
    sym = item.get("sym", item.get("T"))
    return isinstance(sym, str) and sub.wants(sym)


def _encode_list(items: list[dict[str, Any]]) -> bytes:
    import msgspec

    return msgspec.json.encode(items)
