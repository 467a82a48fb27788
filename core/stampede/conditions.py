"""Which trades may move a ticker's price, per Massive's consolidated update rules.

Massive builds its aggregates from ``GET /v3/reference/conditions``; a scanner that computes
anything from trades (momentum, high of day, tape speed) must apply the same rules or an odd
lot or an out-of-sequence print will fake a spike. The simulator uses the same table to build
aggregates that agree with the trades it sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Count toward volume but must not move last, high or low.
VOLUME_ONLY = frozenset({2, 7, 12, 13, 20, 21, 29, 37, 52, 53})
# Official open / close prints: update nothing.
NO_UPDATE = frozenset({15, 16})
# Update high/low and volume but not last.
HIGH_LOW_ONLY = frozenset({5, 10})

ODD_LOT = 37


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What a trade with given conditions may update."""

    last: bool
    high_low: bool
    volume: bool


_REGULAR = Eligibility(last=True, high_low=True, volume=True)


def eligibility(conditions: Iterable[int] | None) -> Eligibility:
    """The consolidated update rules for a trade with these condition ids (absent = regular)."""
    if not conditions:
        return _REGULAR
    codes = set(conditions)
    if codes & NO_UPDATE:
        return Eligibility(last=False, high_low=False, volume=False)
    if codes & VOLUME_ONLY:
        return Eligibility(last=False, high_low=False, volume=True)
    if codes & HIGH_LOW_ONLY:
        return Eligibility(last=False, high_low=True, volume=True)
    return _REGULAR
