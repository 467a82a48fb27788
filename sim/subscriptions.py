"""A connection's subscriptions: ``CHANNEL.TICKER`` topics, ``*`` for every ticker.

Kept per channel as a wildcard flag plus explicit tickers, with a boolean mask over the
simulated universe so a whole second of events is filtered with one numpy index.
Topics are independent, as on Massive: unsubscribing ``A.*`` keeps ``A.MSFT`` if it was
subscribed on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stampede.market import Channel

CHANNELS = {c.value: c for c in Channel}


@dataclass
class ChannelSubscription:
    size: int
    wildcard: bool = False
    tickers: set[str] = field(default_factory=set)
    mask: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.mask = np.zeros(self.size, dtype=bool)

    @property
    def empty(self) -> bool:
        return not self.wildcard and not self.tickers

    def wants(self, sym: str) -> bool:
        return self.wildcard or sym in self.tickers


@dataclass
class Subscriptions:
    index: dict[str, int]  # ticker -> universe index
    channels: dict[Channel, ChannelSubscription] = field(default_factory=dict)

    def parse(self, params: object) -> list[tuple[str, Channel | None, str]]:
        """``(topic, channel or None if invalid, ticker)`` for each comma-separated topic."""
        if not isinstance(params, str):
            return []
        out = []
        for topic in (p.strip() for p in params.split(",")):
            if not topic:
                continue
            name, _, ticker = topic.partition(".")
            out.append((topic, CHANNELS.get(name) if ticker else None, ticker))
        return out

    def add(self, channel: Channel, ticker: str) -> None:
        sub = self.channels.setdefault(channel, ChannelSubscription(len(self.index)))
        if ticker == "*":
            sub.wildcard = True
        else:
            sub.tickers.add(ticker)
            if ticker in self.index:
                sub.mask[self.index[ticker]] = True

    def remove(self, channel: Channel, ticker: str) -> None:
        sub = self.channels.get(channel)
        if sub is None:
            return
        if ticker == "*":
            sub.wildcard = False
        else:
            sub.tickers.discard(ticker)
            if ticker in self.index:
                sub.mask[self.index[ticker]] = False
        if sub.empty:
            del self.channels[channel]

    def get(self, channel: Channel) -> ChannelSubscription | None:
        return self.channels.get(channel)
