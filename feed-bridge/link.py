"""The feed link: what the bridge's Massive connection is doing now and what went wrong.

One small record, kept by the bridge, served at ``GET /status``, shown on the dashboard (the
gateway polls it) and published to the other bridges on NATS (``claims.py``), so the same
words describe a fault everywhere. Pure: the caller passes the clock.

States:
- ``connecting``: a connection attempt (connect, auth, subscribe) is under way;
- ``connected``: authenticated and reading;
- ``backoff``: the last connection ended (``reason``); the next attempt is at ``next_attempt_ms``;
- ``standby``: evicted (``max_connections``); another connection with the key holds the feed,
  ``holder`` names it when it is a bridge we can hear;
- ``idle``: released by the market-hours schedule;
- ``stopped``: the process is shutting down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

STATES = ("connecting", "connected", "backoff", "standby", "idle", "stopped")
# A bridge in one of these holds the feed or will take it back by itself: others stand by.
CLAIMING = frozenset({"connecting", "connected", "backoff"})


@dataclass
class FeedLink:
    instance: str
    clock_ms: Callable[[], int]
    on_change: Callable[[], None] = lambda: None
    state: str = "connecting"
    since_ms: int = 0
    reason: str = ""  # why the last connection ended, e.g. "ping_timeout no pong in time"
    next_attempt_ms: int | None = None
    holder: str | None = None
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.since_ms = self.clock_ms()

    def enter(
        self, state: str, *, next_attempt_ms: int | None = None, holder: str | None = None
    ) -> None:
        if state not in STATES:
            raise ValueError(f"unknown feed link state {state!r}")
        changed = (state, next_attempt_ms, holder) != (
            self.state,
            self.next_attempt_ms,
            self.holder,
        )
        if state != self.state:
            self.since_ms = self.clock_ms()
        self.state, self.next_attempt_ms, self.holder = state, next_attempt_ms, holder
        if changed:
            self.on_change()

    def ended(self, reason: str, detail: str = "") -> None:
        """A connection ended: one fault of this kind."""
        self.faults[reason] += 1
        self.reason = f"{reason} {detail}".strip()

    def to_wire(self) -> dict[str, object]:
        return {
            "instance": self.instance,
            "state": self.state,
            "since_ms": self.since_ms,
            "reason": self.reason,
            "next_attempt_ms": self.next_attempt_ms,
            "holder": self.holder,
            "faults": dict(sorted(self.faults.items())),
            "faults_total": sum(self.faults.values()),
            "ts_ms": self.clock_ms(),
        }
