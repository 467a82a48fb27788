"""Rows as clients see them, and the per-subscription view of a board (filters, limit).

Redis holds every row field as a string; clients get JSON numbers and booleans instead, and a
field that is unknown (absent or unparsable) is simply left out, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stampede.boards import ROW_FIELDS

TEXT_FIELDS = frozenset({"sym"})
FLAG_FIELDS = frozenset({"halted", "has_reference"})


def wire_value(field_name: str, raw: str) -> Any:
    """The JSON value of one Redis row field, or ``None`` when it is unknown/garbled."""
    if field_name in TEXT_FIELDS:
        return raw
    if field_name in FLAG_FIELDS:
        return raw not in ("0", "", "false", "False")
    try:
        number = float(raw)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number.is_integer() and abs(number) < 2**53 and "." not in raw and "e" not in raw.lower():
        return int(number)
    return number


def wire_row(
    sym: str, values: Sequence[str | None], fields: Sequence[str] = ROW_FIELDS
) -> dict[str, Any]:
    """A client row from HMGET values (in ``fields`` order); the symbol is always present."""
    row: dict[str, Any] = {"sym": sym}
    for name, raw in zip(fields, values):
        if raw is None or name == "sym":
            continue
        value = wire_value(name, raw)
        if value is not None:
            row[name] = value
    return row


@dataclass(frozen=True, slots=True)
class Filters:
    """Row filters; a row whose filtered field is unknown does not match."""

    min_price: float | None = None
    max_price: float | None = None
    min_volume: float | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.min_price, self.max_price, self.min_volume))

    def matches(self, row: dict[str, Any]) -> bool:
        if self.min_price is not None or self.max_price is not None:
            last = row.get("last")
            if last is None:
                return False
            if self.min_price is not None and last < self.min_price:
                return False
            if self.max_price is not None and last > self.max_price:
                return False
        if self.min_volume is not None:
            volume = row.get("volume")
            if volume is None or volume < self.min_volume:
                return False
        return True

    def to_wire(self) -> dict[str, float]:
        return {
            k: v
            for k, v in (
                ("min_price", self.min_price),
                ("max_price", self.max_price),
                ("min_volume", self.min_volume),
            )
            if v is not None
        }


@dataclass(frozen=True, slots=True)
class Spec:
    """What a subscription shows; clients with equal specs share one view and one diff."""

    board: str
    limit: int
    filters: Filters = Filters()

    def depth(self, filter_depth: int) -> int:
        """How many of the board's top rows this view needs read."""
        return max(self.limit, filter_depth) if self.filters else self.limit

    def select(self, board_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.filters:
            return list(board_rows[: self.limit])
        out = []
        for row in board_rows:
            if self.filters.matches(row):
                out.append(row)
                if len(out) == self.limit:
                    break
        return out
