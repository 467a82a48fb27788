"""The subscription registry: clients, and one feed per distinct spec that they share.

Clients with equal specs (board, limit, filters) share a feed: one view, one sequence, one
diff encoded once per tick. A client too far behind is never waited for: its backlog is
dropped and replaced by fresh snapshots (``slow_client``), so it costs itself, not the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from stampede.gateway import metrics, replies
from stampede.gateway.clients import Client, Outgoing
from stampede.gateway.diff import View
from stampede.gateway.notices import Freshness
from stampede.gateway.scans import Spec
from stampede.logonce import LogOnce

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Feed:
    """A distinct subscription spec: its current view, sequence and the clients watching it."""

    spec: Spec
    seq: int = 0
    view: View | None = None  # None until the first read
    day: str = ""  # the trading day of the view
    tick_ms: int = 0
    freshness: Freshness = field(default_factory=Freshness)
    members: dict[Client, set[str]] = field(default_factory=dict)
    _snapshots: dict[replies.SnapshotReason, str] = field(default_factory=dict)

    def snapshot(self, sub_id: str, reason: replies.SnapshotReason) -> Outgoing:
        """The whole view for one subscription (encoded once per view and reason)."""
        shared = self._snapshots.get(reason)
        if shared is None:
            assert self.view is not None
            shared = self._snapshots[reason] = replies.encode(
                replies.Snapshot(
                    seq=self.seq,
                    reason=reason,
                    board=self.spec.board,
                    day=self.day,
                    limit=self.spec.limit,
                    filters=self.spec.filters.to_wire(),
                    tick_ms=self.tick_ms,
                    exchange_ms=self.freshness.exchange_ms,
                    received_ms=self.freshness.received_ms,
                    rows=self.view,
                )
            )
        return Outgoing(replies.addressed(shared, sub_id), "snapshot", reason=reason)

    def advance(self, view: View, day: str, tick_ms: int, freshness: Freshness) -> None:
        self.view, self.day, self.tick_ms, self.freshness = view, day, tick_ms, freshness
        self.seq += 1
        self._snapshots.clear()


class Subscriptions:
    """Who watches what: connected clients and the feeds of their distinct specs."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.feeds: dict[Spec, Feed] = {}
        self._log_once = LogOnce(log)

    def add_client(self, client: Client) -> None:
        self.clients.add(client)
        metrics.CLIENTS.set(len(self.clients))

    def remove_client(self, client: Client) -> None:
        for sub_id in list(client.subs):
            self.unsubscribe(client, sub_id)
        self.clients.discard(client)
        metrics.CLIENTS.set(len(self.clients))

    def subscribe(self, client: Client, sub_id: str, spec: Spec) -> bool:
        """Add (or replace) a subscription; False when its feed has no view yet (a read must
        follow, and its snapshot with it)."""
        if sub_id in client.subs:
            self.unsubscribe(client, sub_id)
        feed = self.feeds.get(spec)
        if feed is None:
            feed = self.feeds[spec] = Feed(spec)
        feed.members.setdefault(client, set()).add(sub_id)
        client.subs[sub_id] = spec
        self._gauges()
        if feed.view is None:
            return False
        client.push(feed.snapshot(sub_id, "initial"))
        return True

    def unsubscribe(self, client: Client, sub_id: str) -> bool:
        spec = client.subs.pop(sub_id, None)
        if spec is None:
            return False
        feed = self.feeds.get(spec)
        if feed is not None:
            ids = feed.members.get(client, set())
            ids.discard(sub_id)
            if not ids:
                feed.members.pop(client, None)
            if not feed.members:
                del self.feeds[spec]
        self._gauges()
        return True

    def resync(
        self, client: Client, sub_id: str | None, reason: replies.SnapshotReason = "resync"
    ) -> None:
        """Fresh snapshots of one or all subscriptions (a pending one gets its initial later)."""
        for sid, spec in list(client.subs.items()):
            if sub_id is not None and sid != sub_id:
                continue
            feed = self.feeds[spec]
            if feed.view is not None:
                client.push(feed.snapshot(sid, reason))

    def deliver(self, client: Client, item: Outgoing) -> bool:
        """Queue a diff; a client that is too far behind gets snapshots instead (False)."""
        if not client.full:
            client.push(item)
            return True
        client.clear()
        client.resets += 1
        self._log_once(
            "slow_client",
            "a client fell %d bytes behind; replacing its backlog with snapshots",
            client.queue_limit_bytes,
        )
        self.resync(client, None, reason="slow_client")
        return False

    def broadcast(self, text: str) -> None:
        """A shared control message (heartbeat) to every client with room for it."""
        item = Outgoing(text, "control")
        for client in self.clients:
            if not client.full:
                client.push(item)

    def watched(self) -> set[str]:
        return {spec.board for spec in self.feeds}

    def depths(self, filter_depth: int, cap: int) -> dict[str, int]:
        """Rows to read per watched board: the deepest any of its specs needs."""
        depths: dict[str, int] = {}
        for spec in self.feeds:
            need = min(spec.depth(filter_depth), cap)
            depths[spec.board] = max(depths.get(spec.board, 0), need)
        return depths

    def _gauges(self) -> None:
        metrics.VIEWS.set(len(self.feeds))
        metrics.SUBSCRIPTIONS.set(sum(len(c.subs) for c in self.clients))
