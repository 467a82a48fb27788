"""Massive's list endpoints in one place: filters, sort, limit and ``next_url`` pagination.

Filters are Massive's: ``field=v``, ``field.gt|gte|lt|lte=v`` and ``field.any_of=a,b``.
``sort`` names one column, optionally with ``.asc``/``.desc`` (an ``order`` parameter sets the
direction when the column has none). A page that is not the last carries ``next_url``: the same
path with only a ``cursor`` (the query and the offset, opaque to clients), as Massive's do, so
a client follows it without re-sending its filters. Ties are broken by position in the source
list, so pages never overlap or skip while records are only appended.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

OPS = ("gt", "gte", "lt", "lte", "any_of")
IGNORED = frozenset({"apiKey", "cursor", "limit", "sort", "order"})


@dataclass(frozen=True)
class Field:
    """A filterable, sortable column: ``parse`` turns a query value into a comparable one,
    ``value`` reads it from a record (a list means "matches if any element does")."""

    parse: Callable[[str], Any]
    value: Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Listing:
    fields: dict[str, Field]
    sort: str
    order: str
    default_limit: int
    max_limit: int

    def page(
        self, records: Sequence[dict[str, Any]], query: dict[str, str], url: str
    ) -> dict[str, Any]:
        """One page of ``records`` (already in their natural order) for ``query``; ``url`` is
        the absolute URL of the path, for ``next_url``."""
        offset = 0
        if "cursor" in query:
            query, offset = _decode_cursor(query["cursor"])
        limit = self._limit(query.get("limit"))
        selected = [r for r in records if self._matches(r, query)]
        column, descending = self._sort(query)
        key = self.fields[column].value
        ranked = sorted(
            range(len(selected)), key=lambda j: (key(selected[j]), j), reverse=descending
        )
        chunk = [selected[j] for j in ranked[offset : offset + limit]]
        doc: dict[str, Any] = {"results": chunk, "status": "OK"}
        if offset + limit < len(ranked):
            doc["next_url"] = f"{url}?cursor={_encode_cursor(query, offset + limit)}"
        return doc

    def _limit(self, raw: str | None) -> int:
        if raw is None:
            return self.default_limit
        try:
            limit = int(raw)
        except ValueError:
            raise ValueError(f"limit must be an integer, got {raw!r}") from None
        if not 1 <= limit <= self.max_limit:
            raise ValueError(f"limit must be between 1 and {self.max_limit}")
        return limit

    def _sort(self, query: dict[str, str]) -> tuple[str, bool]:
        column, _, direction = query.get("sort", self.sort).split(",")[0].partition(".")
        if column not in self.fields:
            raise ValueError(f"cannot sort by {column!r}; sortable: {sorted(self.fields)}")
        direction = direction or query.get("order", self.order)
        if direction not in ("asc", "desc"):
            raise ValueError(f"order must be asc or desc, got {direction!r}")
        return column, direction == "desc"

    def _matches(self, record: dict[str, Any], query: dict[str, str]) -> bool:
        for name, raw in query.items():
            if name in IGNORED:
                continue
            column, _, op = name.partition(".")
            spec = self.fields.get(column)
            if spec is None or (op and op not in OPS):
                continue  # Massive ignores parameters it does not know
            if not _compare(spec, record, op, raw):
                return False
        return True


def _compare(spec: Field, record: dict[str, Any], op: str, raw: str) -> bool:
    try:
        wanted = [spec.parse(v) for v in raw.split(",")] if op == "any_of" else spec.parse(raw)
    except (TypeError, ValueError):
        raise ValueError(f"invalid filter value {raw!r}") from None
    got = spec.value(record)
    values = got if isinstance(got, list) else [got]
    for v in values:
        if v is None:
            continue
        if (
            (op == "" and v == wanted)
            or (op == "any_of" and v in wanted)
            or (op == "gt" and v > wanted)
            or (op == "gte" and v >= wanted)
            or (op == "lt" and v < wanted)
            or (op == "lte" and v <= wanted)
        ):
            return True
    return False


def _encode_cursor(query: dict[str, str], offset: int) -> str:
    kept = {k: v for k, v in query.items() if k not in ("apiKey", "cursor")}
    raw = json.dumps({"q": kept, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dict[str, str], int]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        query, offset = doc["q"], int(doc["o"])
        if not isinstance(query, dict) or offset < 0:
            raise ValueError
        return {str(k): str(v) for k, v in query.items()}, offset
    except (ValueError, KeyError, TypeError):
        raise ValueError("invalid cursor") from None
