"""Which other bridge holds the feed, from the feed links they publish on NATS.

Massive allows one connection per key and the NEWEST wins: a second bridge that logs in evicts
the first (``max_connections``). If the evicted one simply reconnected after a pause it would
evict the other in turn, and the two would take the feed from each other forever. So bridges
that share a NATS hear each other's feed link (``link.py``) every ``BRIDGE_STATUS_INTERVAL``,
and an evicted bridge stands by while another one claims the feed (connected, connecting or
in a reconnect backoff). It takes the feed only once it has listened for a whole
``BRIDGE_HOLDER_TIMEOUT`` without hearing a claim: the holder stopped (it says so on a clean
stop), died, or was itself evicted by someone who is not a bridge.

Pure: the bridge feeds in what NATS delivers and the time.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from stampede.bridge.link import CLAIMING, STATES

SUBJECT = "stampede.bridge.status"


class LinkReport(msgspec.Struct):
    instance: str
    state: str


@dataclass(slots=True)
class Heard:
    state: str
    at: float


class Claims:
    def __init__(self, me: str, timeout: float) -> None:
        self.me = me
        self.timeout = timeout
        self.peers: dict[str, Heard] = {}
        self.listening_since: float | None = None  # None while NATS is down: we hear nothing

    def observe(self, raw: bytes, now: float) -> None:
        """Record one peer report; raises ``ValueError`` for anything that is not one."""
        try:
            report = msgspec.json.decode(raw, type=LinkReport)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a feed link report: {exc}") from None
        if report.state not in STATES:
            raise ValueError(f"unknown feed link state {report.state!r}")
        if report.instance == self.me:
            return
        if report.state == "stopped":
            self.peers.pop(report.instance, None)
        else:
            self.peers[report.instance] = Heard(report.state, now)

    def listening(self, connected: bool, now: float) -> None:
        """Whether NATS is connected now; claims are only trusted after a full timeout of it."""
        if not connected:
            self.listening_since = None
        elif self.listening_since is None:
            self.listening_since = now

    def holder(self, now: float) -> str | None:
        """The most recently heard peer that claims the feed, if any is recent enough."""
        fresh = [
            (heard.at, instance)
            for instance, heard in self.peers.items()
            if heard.state in CLAIMING and now - heard.at <= self.timeout
        ]
        return max(fresh)[1] if fresh else None

    def may_take_over(self, now: float) -> bool:
        """True when we have listened a whole timeout and nobody claimed the feed."""
        if self.listening_since is None or now - self.listening_since < self.timeout:
            return False
        return self.holder(now) is None
