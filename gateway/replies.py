"""Server messages of ``stampede.gateway.v1``, typed like the client messages in ``messages``.

Each is a msgspec Struct tagged by ``type`` (described for machines in
``schemas/gateway-ws.v1.json``; the tests validate every reply against it). Board messages
(``snapshot``, ``diff``) go to every client of a view: they are encoded once without ``id`` and
``addressed`` splices each client's subscription id in, a string concatenation per client
instead of an encode per client.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

SnapshotReason = Literal["initial", "resync", "slow_client"]
ErrorCode = Literal[
    "bad_json",
    "bad_request",
    "unknown_type",
    "unknown_board",
    "unknown_subscription",
    "too_many_subscriptions",
    "message_too_large",
    "unauthorized",
    "rate_limited",
]
Row = dict[str, Any]
# The bridge's feed link states (stampede.bridge.link), and ``unknown``: the bridge did not answer.
LinkState = Literal["connecting", "connected", "backoff", "standby", "idle", "stopped", "unknown"]


class BoardEntry(msgspec.Struct):
    name: str
    title: str
    metric: str  # the row field the board ranks by
    ascending: bool  # True when the smallest metric ranks first


class Limits(msgspec.Struct):
    max_limit: int
    max_subscriptions: int
    max_message_bytes: int
    filter_depth: int
    max_tick_hz: float


class Times(msgspec.Struct):
    """Newest data behind a board or the feed (Unix ms; None until known)."""

    exchange_ms: int | None  # exchange time of the newest data
    received_ms: int | None  # when the feed bridge read it (wall clock)


class Hello(msgspec.Struct, tag="hello", tag_field="type"):
    protocol: str
    day: str
    server_ms: int
    boards: list[BoardEntry]
    fields: list[str]  # row fields a subscription may filter on (min_<field>/max_<field>)
    limits: Limits
    stale_after_ms: int
    heartbeat_ms: int


class Snapshot(msgspec.Struct, tag="snapshot", tag_field="type", omit_defaults=True):
    """A whole view; the next diff of the subscription has ``seq + 1``."""

    seq: int
    reason: SnapshotReason
    board: str
    day: str
    limit: int
    filters: dict[str, float]
    tick_ms: int  # gateway wall clock when the view was read
    exchange_ms: int | None
    received_ms: int | None
    rows: list[Row]
    id: str | None = None  # None when encoded for ``addressed``


class Added(msgspec.Struct):
    rank: int
    row: Row


class Changed(msgspec.Struct):
    sym: str
    set: Row
    unset: list[str]


class Diff(msgspec.Struct, tag="diff", tag_field="type", omit_defaults=True):
    """What changed in a view since ``seq - 1`` (applied as docs/gateway.md says)."""

    seq: int
    board: str
    day: str
    tick_ms: int
    exchange_ms: int | None
    received_ms: int | None
    removed: list[str]
    added: list[Added]
    moved: list[tuple[str, int]]
    changed: list[Changed]
    id: str | None = None  # None when encoded for ``addressed``


class FeedLink(msgspec.Struct):
    """The bridge's connection to Massive as its ``/status`` reports it (``feedlink.py``)."""

    state: LinkState
    reason: str = ""  # why the last connection ended
    since_ms: int | None = None
    next_attempt_ms: int | None = None
    holder: str | None = None  # standby: the bridge holding the feed
    faults: dict[str, int] = {}
    faults_total: int = 0


class Reads(msgspec.Struct):
    """Where the gateway reads the boards: its replica, or the primary while the replica is
    unusable (``replica`` says why: in sync, behind, resyncing, link down, unreachable)."""

    source: str  # "replica" | "primary"
    replica: str
    replica_lag_ms: int | None = None


class Heartbeat(msgspec.Struct, tag="heartbeat", tag_field="type", omit_defaults=True):
    server_ms: int
    day: str
    feed: Times
    listening: bool  # subscribed to change notifications
    boards: dict[str, Times]
    feed_link: FeedLink | None = None  # only when GATEWAY_BRIDGE_URL is set
    reads: Reads | None = None  # only when GATEWAY_REDIS_READ_URL is set


class Error(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    code: ErrorCode
    message: str
    id: str | None = None  # the subscription it is about, only when the id was valid


class Pong(msgspec.Struct, tag="pong", tag_field="type"):
    t: int | float | str | None
    server_ms: int


class Unsubscribed(msgspec.Struct, tag="unsubscribed", tag_field="type"):
    id: str


ServerMessage = Hello | Snapshot | Diff | Heartbeat | Error | Pong | Unsubscribed

_encoder = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    return _encoder.encode(message).decode()


def addressed(shared: str, sub_id: str) -> str:
    """``shared`` (a board message encoded without ``id``) for one subscription."""
    head = shared.index(",")  # after '{"type":"<tag>"'
    return shared[:head] + ',"id":' + _encoder.encode(sub_id).decode() + shared[head:]
