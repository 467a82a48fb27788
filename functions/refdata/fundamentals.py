"""What traders filter on, from Massive's reference answers: pure checks and arithmetic, no I/O.

Three sources, each value kept with the date it is as of:

- free float, ``/stocks/vX/float``: ``free_float`` shares as of ``effective_date``;
- shares outstanding and market cap, ``/v3/reference/tickers/{T}``: the share class's own
  ``share_class_shares_outstanding`` and ``market_cap``, as of the day loaded;
- short interest, ``/stocks/v1/short-interest``: ``short_interest`` and ``days_to_cover`` of
  the latest ``settlement_date`` (the endpoint returns several per ticker).

A record with a wrong type (a number sent as a string, a list where a number belongs) raises
:class:`BadRecord`: it is skipped and counted, never half-read. A missing value stays missing:
the row gets no such field. Nothing is guessed, and float is never replaced by shares
outstanding (the two differ most exactly where it matters, in low-float names).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

# Row fields this module writes (and clears when a source no longer has them).
ROW_FIELDS = (
    "float_shares",
    "float_as_of",
    "shares_outstanding",
    "market_cap",
    "short_interest",
    "days_to_cover",
    "short_pct_float",
    "short_interest_as_of",
)


class BadRecord(ValueError):
    """A record whose fields do not have the types Massive documents."""


@dataclass(frozen=True, slots=True)
class Float:
    free_float: int
    as_of: str | None


@dataclass(frozen=True, slots=True)
class Overview:
    shares_outstanding: int | None
    market_cap: float | None
    as_of: str


@dataclass(frozen=True, slots=True)
class ShortInterest:
    short_interest: int
    days_to_cover: float | None
    as_of: str


def _number(record: dict[str, Any], name: str) -> float | None:
    """A finite, non-negative number, None when absent or null; anything else is BadRecord."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise BadRecord(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _count(record: dict[str, Any], name: str) -> int | None:
    value = _number(record, name)
    return None if value is None else int(round(value))


def _date(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{name} must be a date string, got {type(value).__name__}")
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise BadRecord(f"{name} is not a date: {value[:20]!r}") from None


def _ticker(record: dict[str, Any]) -> str:
    ticker = record.get("ticker")
    if not isinstance(ticker, str) or not ticker:
        raise BadRecord("ticker must be a non-empty string")
    return ticker


def parse_float(record: Any) -> tuple[str, Float] | None:
    """(ticker, float) of a ``/stocks/vX/float`` result; None when it carries no float."""
    if not isinstance(record, dict):
        raise BadRecord("a float result must be an object")
    ticker = _ticker(record)
    shares = _count(record, "free_float")
    _number(record, "free_float_percent")  # checked: a wrong type means a wrong record
    if not shares:
        return None
    return ticker, Float(shares, _date(record, "effective_date"))


def parse_overview(results: Any, as_of: str) -> Overview:
    """The overview figures of a ``/v3/reference/tickers/{T}`` answer's ``results``."""
    if not isinstance(results, dict):
        raise BadRecord("ticker overview results must be an object")
    shares = _count(results, "share_class_shares_outstanding")
    _count(results, "weighted_shares_outstanding")
    return Overview(shares or None, _number(results, "market_cap") or None, as_of)


def parse_short_interest(record: Any) -> tuple[str, ShortInterest] | None:
    """(ticker, short interest) of a ``/stocks/v1/short-interest`` result; None when it has no
    short interest or no settlement date (a figure without its date is not usable)."""
    if not isinstance(record, dict):
        raise BadRecord("a short interest result must be an object")
    ticker = _ticker(record)
    shares = _count(record, "short_interest")
    days = _number(record, "days_to_cover")
    _count(record, "avg_daily_volume")
    settled = _date(record, "settlement_date")
    if shares is None or settled is None:
        return None
    return ticker, ShortInterest(shares, days, settled)


def newer(current: ShortInterest | None, candidate: ShortInterest) -> ShortInterest:
    """The short interest of the later settlement date."""
    return candidate if current is None or candidate.as_of >= current.as_of else current


def row_fields(
    floated: Float | None, overview: Overview | None, short: ShortInterest | None
) -> dict[str, int | float | str]:
    """A ticker's reference row fields; a field is absent when its source has no value."""
    out: dict[str, int | float | str] = {}
    if floated is not None:
        out["float_shares"] = floated.free_float
        if floated.as_of:
            out["float_as_of"] = floated.as_of
    if overview is not None:
        if overview.shares_outstanding is not None:
            out["shares_outstanding"] = overview.shares_outstanding
        if overview.market_cap is not None:
            out["market_cap"] = overview.market_cap
    if short is not None:
        out["short_interest"] = short.short_interest
        out["short_interest_as_of"] = short.as_of
        if short.days_to_cover is not None:
            out["days_to_cover"] = short.days_to_cover
        if floated is not None:
            out["short_pct_float"] = short.short_interest / floated.free_float * 100
    return out


def to_json(value: Float | Overview | ShortInterest) -> dict[str, Any]:
    return asdict(value)


def float_from_json(doc: dict[str, Any]) -> Float:
    return Float(int(doc["free_float"]), doc.get("as_of"))


def overview_from_json(doc: dict[str, Any]) -> Overview:
    return Overview(doc.get("shares_outstanding"), doc.get("market_cap"), str(doc["as_of"]))


def short_from_json(doc: dict[str, Any]) -> ShortInterest:
    return ShortInterest(int(doc["short_interest"]), doc.get("days_to_cover"), str(doc["as_of"]))
