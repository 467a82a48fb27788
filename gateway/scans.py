"""Scan filters: min/max bounds on any numeric row field, matched by field name.

A scan is a board plus filters. The gateway applies them, so a client receives only the rows
that pass and its diffs stay small; clients with the same board, limit and filters still share
one view. Filters are generic over the row catalogue (``stampede.boards.ROW_FIELDS``): a field
added there is filterable with no change here. Wire keys:

- ``min_<field>`` / ``max_<field>``: inclusive bounds on a numeric field (``price`` is the
  v1 name of ``last``, so ``min_price``, ``max_price`` and ``min_volume`` mean what they did);
- ``min_<name>_age_s`` / ``max_<name>_age_s``: bounds on the age in seconds of a time field
  (``hod_time`` -> ``hod_age_s``, ``news_ms`` -> ``news_age_s``), measured against feed time,
  so "a new high within 60 s" is ``max_hod_age_s: 60`` and replays work too.

A row whose filtered field is unknown (absent) never passes: a float filter must not let in a
symbol whose float nobody knows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stampede.boards import ROW_FIELDS
from stampede.gateway.rows import FLAG_FIELDS, TEXT_FIELDS

ALIASES = {"price": "last"}  # wire name -> row field (the v1 filter names)
WIRE_NAMES = {field: name for name, field in ALIASES.items()}
# v1 promised these are >= 0; newer bounds may be negative (losers: max_change_pct -5)
NON_NEGATIVE = frozenset({"min_price", "max_price", "min_volume"})
AGE_SUFFIX = "_age_s"
MAX_BOUNDS = 32


def _age_name(time_field: str) -> str:
    return time_field.removesuffix("_time").removesuffix("_ms") + AGE_SUFFIX


NUMERIC_FIELDS: tuple[str, ...] = tuple(
    f for f in ROW_FIELDS if f not in TEXT_FIELDS and f not in FLAG_FIELDS
)
# Unix-ms time fields, each also filterable by its age
AGE_FIELDS: dict[str, str] = {
    _age_name(f): f for f in NUMERIC_FIELDS if f.endswith("_time") or f.endswith("_ms")
}
FILTER_FIELDS: tuple[str, ...] = (
    *(WIRE_NAMES.get(f, f) for f in NUMERIC_FIELDS),
    *AGE_FIELDS,
)


class FilterError(ValueError):
    """A filter the catalogue does not know or a bound that makes no sense."""


@dataclass(frozen=True, slots=True)
class Bound:
    """Inclusive bounds on one field (a row field, or an age name from ``AGE_FIELDS``)."""

    field: str
    low: float | None = None
    high: float | None = None

    def value(self, row: Mapping[str, Any], now_ms: float) -> float | None:
        source = AGE_FIELDS.get(self.field)
        if source is None:
            return row.get(self.field)
        at = row.get(source)
        # a time newer than the feed clock the gateway knows happened just now, not in the future
        return None if at is None else max(0.0, (now_ms - at) / 1000)

    def passes(self, row: Mapping[str, Any], now_ms: float) -> bool:
        value = self.value(row, now_ms)
        if value is None:
            return False
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value <= self.high


@dataclass(frozen=True, slots=True)
class Filters:
    """All bounds of a subscription, sorted by field so equal scans share one view."""

    bounds: tuple[Bound, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.bounds)

    def matches(self, row: Mapping[str, Any], now_ms: float = 0.0) -> bool:
        return all(b.passes(row, now_ms) for b in self.bounds)

    def to_wire(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for b in self.bounds:
            name = WIRE_NAMES.get(b.field, b.field)
            if b.low is not None:
                out[f"min_{name}"] = b.low
            if b.high is not None:
                out[f"max_{name}"] = b.high
        return out

    @classmethod
    def parse(cls, wire: Mapping[str, Any] | None) -> Filters:
        """Filters from wire keys; ``FilterError`` names the first key that is wrong."""
        if not wire:
            return cls()
        if len(wire) > MAX_BOUNDS:
            raise FilterError(f"at most {MAX_BOUNDS} filter bounds per subscription")
        lows: dict[str, float] = {}
        highs: dict[str, float] = {}
        for key, raw in wire.items():
            side, _, name = str(key).partition("_")
            field = ALIASES.get(name, name)
            if side not in ("min", "max") or (
                field not in NUMERIC_FIELDS and field not in AGE_FIELDS
            ):
                raise FilterError(
                    f"unknown filter {key!r}: use min_<field> or max_<field> with a field of "
                    f"{', '.join(FILTER_FIELDS)}"
                )
            if raw is None:
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise FilterError(f"filter {key!r} must be a finite number, not {raw!r}")
            if key in NON_NEGATIVE and raw < 0:
                raise FilterError(f"filter {key!r} must be >= 0")
            (lows if side == "min" else highs)[field] = float(raw)
        for field in lows.keys() & highs.keys():
            if lows[field] > highs[field]:
                name = WIRE_NAMES.get(field, field)
                raise FilterError(f"min_{name} is above max_{name}")
        return cls(
            tuple(Bound(f, lows.get(f), highs.get(f)) for f in sorted(lows.keys() | highs.keys()))
        )


@dataclass(frozen=True, slots=True)
class Spec:
    """What a subscription shows; clients with equal specs share one view and one diff."""

    board: str
    limit: int
    filters: Filters = Filters()

    def depth(self, filter_depth: int) -> int:
        """How many of the board's top rows this view needs read."""
        return max(self.limit, filter_depth) if self.filters else self.limit

    def select(
        self, board_rows: Sequence[dict[str, Any]], now_ms: float = 0.0
    ) -> list[dict[str, Any]]:
        """The first ``limit`` rows that pass; ``now_ms`` (feed time) is what ages count from."""
        if not self.filters:
            return list(board_rows[: self.limit])
        out = []
        for row in board_rows:
            if self.filters.matches(row, now_ms):
                out.append(row)
                if len(out) == self.limit:
                    break
        return out
