"""Rows as clients see them (what a subscription filters on lives in ``scans``).

Redis holds every row field as a string; clients get JSON numbers and booleans instead, and a
field that is unknown (absent or unparsable) is simply left out, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stampede.boards import ROW_FIELDS, TEXT_ROW_FIELDS

TEXT_FIELDS = TEXT_ROW_FIELDS
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


def wire_row(sym: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """A client row from a Redis row hash; the symbol is always present, unknown fields absent."""
    row: dict[str, Any] = {"sym": sym}
    for name in ROW_FIELDS:
        raw = fields.get(name)
        if raw is None or name == "sym":
            continue
        value = wire_value(name, raw)
        if value is not None:
            row[name] = value
    return row
