"""What a scoring function wants written: plain data, produced by the pure scoring modules.

A function's ``scoring.py`` turns a batch of market events into :class:`RowWrite` values
(numbers in, board updates out, no I/O). ``store.py`` applies them to Redis atomically and
monotonically: a row write whose exchange time is older than what its clock already holds
is skipped, so replicas and redeliveries cannot move a row backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RowWrite:
    """One symbol's update from one clock (a group of row fields owned by one function).

    ``t``/``tie`` order writes of the same clock: the write applies only if
    ``(t, tie)`` is not older than the stored pair (ties keep the later arrival).
    """

    day: str
    sym: str
    clock: str
    t: int
    tie: float = 0.0
    fields: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # board name -> score
    remove: tuple[str, ...] = ()  # boards the symbol must leave (metric undefined now)

    def boards(self) -> set[str]:
        return set(self.scores) | set(self.remove)


def fmt(value: float) -> str:
    """Row field text: short, stable and exact enough for display (prices, percentages)."""
    value = round(float(value), 6)
    return str(int(value)) if value.is_integer() else repr(value)
