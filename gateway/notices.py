"""Change notices (``sp:changes``): the current trading day and how fresh each board is.

A notice is decoded with the shared typed contract (``stampede.changes``); a bad one is counted
and logged once, never fatal. The current day is the newest day seen; at start it is the newest
day with boards in Redis, or a guess (today in ET) that the first notice replaces even when it
is older, so a replay of a past session is shown too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stampede import changes
from stampede.boards import BOARDS_BY_NAME
from stampede.gateway import metrics
from stampede.gateway.replies import Times
from stampede.logonce import LogOnce

log = logging.getLogger(__name__)
MAX_TICK_LINKS = 32  # traced changes a tick span links to (a tick may coalesce thousands)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Freshness:
    """Newest data behind a board: exchange time and when the bridge read it (wall clock)."""

    exchange_ms: int | None = None
    received_ms: int | None = None

    def update(self, exchange_ms: int | None, received_ms: int | None) -> None:
        if exchange_ms and (self.exchange_ms is None or exchange_ms > self.exchange_ms):
            self.exchange_ms = exchange_ms
        if received_ms and (self.received_ms is None or received_ms > self.received_ms):
            self.received_ms = received_ms

    def copy(self) -> Freshness:
        return Freshness(self.exchange_ms, self.received_ms)

    def times(self) -> Times:
        return Times(self.exchange_ms, self.received_ms)


@dataclass(slots=True)
class Noticed:
    """What an accepted notice means for the hub."""

    boards: set[str]  # known boards it names
    new_day: bool  # it started a new trading day: every view switches over


@dataclass(slots=True)
class Notices:
    """The current day, per-board and feed freshness, and trace links for the next tick."""

    day: str = ""
    day_guessed: bool = True
    boards: dict[str, Freshness] = field(default_factory=dict)
    feed: Freshness = field(default_factory=Freshness)
    traced: list[str] = field(default_factory=list)  # traceparents since the last tick
    _log_once: LogOnce = field(default_factory=lambda: LogOnce(log))

    def start(self, found_day: str | None, today: str) -> None:
        self.day = found_day or today
        self.day_guessed = found_day is None

    def accept(self, raw: str | bytes) -> Noticed | None:
        """Apply one notice; None when it is ignored (malformed, or of an older day)."""
        try:
            notice = changes.decode(raw)
        except msgspec.DecodeError as exc:
            metrics.NOTIFICATIONS.labels("bad").inc()
            self._log_once(
                "bad_notification", "ignoring a bad change notification (%s): %.200r", exc, raw
            )
            return None
        if notice.day < self.day and not self.day_guessed:
            metrics.NOTIFICATIONS.labels("old_day").inc()
            return None
        self.day_guessed = False
        new_day = notice.day != self.day
        if new_day:
            log.info("new trading day %s (was %s)", notice.day, self.day)
            self.day = notice.day
            self.boards.clear()
        metrics.NOTIFICATIONS.labels("ok").inc()
        if notice.traceparent and len(self.traced) < MAX_TICK_LINKS:
            self.traced.append(notice.traceparent)
        named = {b for b in notice.boards if b in BOARDS_BY_NAME}
        exchange_ms, received_ms = notice.exchange_ms or None, notice.received_ms or None
        for name in named:
            self.boards.setdefault(name, Freshness()).update(exchange_ms, received_ms)
        self.feed.update(exchange_ms, received_ms)
        return Noticed(named, new_day)

    def feed_time_ms(self, rows: list[dict[str, Any]]) -> int:
        """Now, in feed time: what scan filters on ages (a new high within 60 s) count from,
        so a replayed or simulated day filters as it would have live. Before the first
        notification the newest row update stands in for it."""
        if self.feed.exchange_ms:
            return self.feed.exchange_ms
        return max((r["updated_ms"] for r in rows if "updated_ms" in r), default=now_ms())

    def take_traced(self) -> list[str]:
        traced, self.traced = self.traced, []
        return traced
