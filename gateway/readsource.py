"""Where the gateway reads boards and hears change notices: its read replica while the replica
keeps up, else the primary (issue 23: honest live state).

A replica that is resyncing, cut off or behind serves boards that silently stop moving: through
a simulated open the replica was cut 58 times on its output buffer, re-copied in full each
time, and the boards froze for up to a minute while the page said LIVE. So every ``POLL_S`` the
watch asks both servers for their replication offsets (``INFO replication``, read-only) and
keeps the primary's recent offsets with the time it saw them. The replica's lag is how long ago
the primary had written no more than the replica holds now: the measure of a replication
heartbeat (pt-heartbeat), without writing one. A replica that is resyncing, whose link is down,
that does not answer, or that lags more than ``GATEWAY_REPLICA_MAX_LAG_SECONDS`` is unusable:
the gateway then reads and listens to the primary (if the primary answers: else the replica's
last boards are all there is, and the gateway says it is not ready), until the replica has kept
up for ``RECOVER_S``. Where the boards come from, and why, is in ``/readyz``, the metrics and every
heartbeat, so the page can say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from stampede.gateway import metrics
from stampede.redisclient import RedisClient

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often both servers are asked
RECOVER_S = 5.0  # a replica back in sync serves again after keeping up this long
WINDOW_S = 120.0  # primary offsets kept: a lag beyond this reads as "at least this"
ASK_TIMEOUT_S = 1.0  # a server slower than this to answer INFO counts as unreachable


@dataclass(slots=True, frozen=True)
class ReplicaState:
    """What the watch saw of the replica at one poll."""

    condition: str  # "in sync" | "behind" | "resyncing" | "link down" | "unreachable"
    lag_s: float | None  # seconds behind the primary (None: unknown)

    @property
    def usable(self) -> bool:
        return self.condition == "in sync"


def replica_lag(samples: deque[tuple[float, int]], now: float, replica_offset: int) -> float:
    """Seconds since the primary had written no more than ``replica_offset`` bytes: 0 when
    the replica holds everything the newest sample saw; ``now`` minus the oldest sample when
    it holds less than even that (at least that far behind)."""
    if not samples or replica_offset >= samples[-1][1]:
        return 0.0
    caught_up_at = None
    for seen_at, offset in samples:  # oldest first
        if offset > replica_offset:
            break
        caught_up_at = seen_at
    return now - (caught_up_at if caught_up_at is not None else samples[0][0])


def judge(
    replica_info: dict[str, Any] | None, lag_s: float | None, max_lag_s: float
) -> ReplicaState:
    """The replica's condition from its ``INFO replication`` (None: it did not answer)."""
    if replica_info is None:
        return ReplicaState("unreachable", lag_s)
    if replica_info.get("role") != "slave":
        return ReplicaState("in sync", 0.0)  # a promoted replica is a primary: nothing to lag
    if int(replica_info.get("master_sync_in_progress", 0) or 0):
        return ReplicaState("resyncing", lag_s)
    if replica_info.get("master_link_status") != "up":
        return ReplicaState("link down", lag_s)
    if lag_s is not None and lag_s > max_lag_s:
        return ReplicaState("behind", lag_s)
    return ReplicaState("in sync", lag_s)


class ReadSource:
    """The client the gateway reads with now, switched by the watch (``run``)."""

    def __init__(
        self,
        replica: RedisClient,
        primary: RedisClient,
        max_lag_s: float,
        on_switch: Callable[[RedisClient], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replica, self.primary = replica, primary
        self.max_lag_s = max_lag_s
        self.on_switch = on_switch
        self._clock = clock
        self.current = replica
        self.state = ReplicaState("in sync", None)
        self._samples: deque[tuple[float, int]] = deque()
        self._usable_since: float | None = None

    @property
    def reading(self) -> str:
        return "replica" if self.current is self.replica else "primary"

    def describe(self) -> str:
        lag = f", {self.state.lag_s:.1f} s behind" if self.state.lag_s else ""
        return f"reading the {self.reading} (replica: {self.state.condition}{lag})"

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(POLL_S)

    async def poll(self) -> ReplicaState:
        """Ask both servers, judge the replica, and switch when its usability changed."""
        primary_info, replica_info = await asyncio.gather(
            _replication(self.primary), _replication(self.replica)
        )
        now = self._clock()
        if primary_info is not None:
            self._samples.append((now, int(primary_info.get("master_repl_offset", 0))))
        while self._samples and self._samples[0][0] < now - WINDOW_S:
            self._samples.popleft()
        lag = None
        if replica_info is not None and "slave_repl_offset" in replica_info:
            lag = replica_lag(self._samples, now, int(replica_info["slave_repl_offset"]))
        self.state = judge(replica_info, lag, self.max_lag_s)
        metrics.REPLICA_LAG.set(lag if lag is not None else float("nan"))
        self._decide(now, primary_up=primary_info is not None)
        return self.state

    @property
    def serving(self) -> bool:
        """Whether the boards read now can move: from a usable replica, or from the primary."""
        return self.state.usable or self.current is self.primary

    def _decide(self, now: float, primary_up: bool) -> None:
        if not self.state.usable:
            self._usable_since = None
            if self.current is self.replica and primary_up:  # else the replica is all there is
                self._switch(self.primary)
            return
        if self._usable_since is None:
            self._usable_since = now
        if self.current is self.primary and now - self._usable_since >= RECOVER_S:
            self._switch(self.replica)

    def _switch(self, client: RedisClient) -> None:
        self.current = client
        metrics.READING_PRIMARY.set(1 if client is self.primary else 0)
        metrics.READ_SWITCHES.labels(self.reading).inc()
        log.warning("board reads switched: %s", self.describe())
        self.on_switch(client)


async def _replication(redis: RedisClient) -> dict[str, Any] | None:
    """``INFO replication``, or None when the server does not answer in time."""
    with contextlib.suppress(TimeoutError, RedisError, OSError):
        return dict(await asyncio.wait_for(redis.info("replication"), ASK_TIMEOUT_S))
    return None
