"""Applying row writes (movers, halts) to Redis: one ``rows.lua`` call per shard and group.

Each call does, inside Redis and in one round trip, for every CloudEvent merged into it:
1. the seen keys (``seen.lua``) - when any CloudEvent was already applied nothing is written;
2. the group's row writes, each guarded so a row only moves forward in exchange time;
3. board trimming to the top/bottom K, expiry of the day's keys;
4. ``PUBLISH sp:changes`` with the boards touched, for the gateway to tick on.
Markers and writes are one atomic unit, so a crash cannot leave a group half-applied-but-marked,
and a redelivery cannot count twice. This module owns ``rows.lua`` and its argument layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
from opentelemetry import propagate, trace

from stampede import changes, keys
from stampede.boards import BOARDS_BY_NAME, NEAR_LULD, NEAR_LULD_PCT
from stampede.functions.commit import E, Flushed, Part
from stampede.functions.lua import ApplyScript
from stampede.functions.plan import RowWrite, market_clock
from stampede.redisclient import RedisClient

UPDATED = "updated_ms"  # state hash mirroring each row's updated_ms (symbol -> ms)
BANDS = "luld_bands"  # state hash of the LULD bands rows hold (symbol -> "upper lower")


class KeyTable:
    """The KEYS of one call after its seen keys, each named by its 1-based Lua index."""

    def __init__(self, seen: int) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}
        self._offset = seen + 1

    def unique(self, key: str) -> int:
        """Add a key the call names only once (a symbol's own state or row): no look-up."""
        self.keys.append(key)
        return len(self.keys) + self._offset - 1

    def __call__(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.keys) + self._offset
            self.keys.append(key)
        return i


Row = tuple[int, str, int, float, list[object], list[object], int, int]


class RowsCall(msgspec.Struct, array_like=True):
    """ARGV[3] of ``rows.lua`` (positional: the Lua side reads ``p[1]``..``p[8]``).

    Board scores travel per board, not per row (``ranks``): Lua then hands each board's list to
    ZADD/ZREM as it stands and only filters it in the rare call where a row's guard refused it;
    building them row by row in Lua cost a quarter of the script's time."""

    ttl: int
    channel: str
    message: str
    boards: list[tuple[int, int, int]]  # (board key index, cap, ascending 1/0)
    # (clock key index, updated_ms mirror key index, rows, bands key index or 0 when no row is
    # flagged, [symbol, symbol:tie, ...] of its rows: the clock fields to read); a row is
    # (row key index, symbol, t, tie, [field, value, ...], [static field, value, ...],
    # near_luld board position or 0, 1 when it writes both LULD bands else 0); rows are
    # numbered 1.. over all groups in order, board positions are 1-based into ``boards``
    groups: list[tuple[int, int, list[Row], int, list[str]]]
    # per board touched: (board position, [score, symbol, ...], [row number of each pair, ...],
    # [symbol to remove, ...], [row number of each, ...])
    ranks: list[tuple[int, list[object], list[int], list[str], list[int]]]
    near_pct: float  # a flagged row is on near_luld within this % of a band
    near_message: str  # ``message`` naming near_luld too, sent when a row was re-ranked there


def change_notice(parts: Sequence[Part[E]], boards: Iterable[str], day: str) -> str:
    """The notice PUBLISHed on ``sp:changes`` for a group: its newest exchange/received time,
    and the first CloudEvent's trace (tracing on: the gateway links its tick there)."""
    notice = changes.ChangeNotice(
        day=day,
        boards=sorted(boards),
        exchange_ms=max(p.exchange_ms for p in parts),
        received_ms=max(p.received_ms for p in parts),
        traceparent=next((p.traceparent for p in parts if p.traceparent), ""),
    )
    return changes.encode(notice).decode()


def seen_keys(parts: Sequence[Part[E]], shard: int) -> list[str]:
    """The seen key of each part: its CloudEvent id, on the day of its newest event (a function
    of the CloudEvent alone, so a redelivery in any other group finds it)."""
    return [keys.seen(market_clock(p.exchange_ms)[0], p.event_id, shard) for p in parts]


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span when it is recorded (tracing on), else None."""
    if not trace.get_current_span().is_recording():
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


class Store:
    """Runs ``rows.lua`` for the row-writing functions (movers, halts)."""

    def __init__(self, redis: RedisClient, board_size: int, seen_ttl: int, shards: int) -> None:
        self.redis = redis
        self.board_size = board_size
        self.seen_ttl = seen_ttl
        self.shards = shards
        here = Path(__file__)
        self._rows = ApplyScript(
            redis, here.with_name("rows.lua"), helpers=(here.with_name("near_luld.lua"),)
        )

    async def apply_rows(
        self, shard: int, parts: Sequence[Part[E]], writes: list[RowWrite]
    ) -> Flushed:
        """Apply the merged row writes of ``parts`` (all of ``shard``) in one script call."""
        if not writes:
            raise ValueError(f"no row writes for {len(parts)} CloudEvents")
        day = max(w.day for w in writes)
        seen = seen_keys(parts, shard)
        table = KeyTable(len(seen))
        positions: dict[tuple[str, str], int] = {}  # (day, board) -> 1-based position
        boards: list[tuple[int, int, int]] = []
        ranks: dict[int, tuple[list[object], list[int], list[str], list[int]]] = {}

        def rank(day: str, name: str) -> tuple[list[object], list[int], list[str], list[int]]:
            """The score and removal lists of one board, added on its first mention."""
            pos = position(day, name)
            lists = ranks.get(pos)
            if lists is None:
                lists = ranks[pos] = ([], [], [], [])
            return lists

        def position(day: str, name: str) -> int:
            pos = positions.get((day, name))
            if pos is None:
                board = BOARDS_BY_NAME[name]
                key = table(keys.board(day, name, shard))
                boards.append((key, self.board_size, int(board.ascending)))
                pos = positions[(day, name)] = len(boards)
            return pos

        by_clock: dict[tuple[str, str], list[RowWrite]] = {}
        for w in writes:
            by_clock.setdefault((w.day, w.clock), []).append(w)
        groups: list[tuple[int, int, list[Row], int, list[str]]] = []
        flagged = False  # a row flagged near_band: near_luld may change
        number = 0  # rows are numbered in the order Lua visits them
        for (d, clock), group in by_clock.items():
            rows: list[Row] = []
            clock_fields: list[str] = []
            banded = False
            for w in group:
                number += 1
                for name, score in w.scores.items():
                    pairs, pair_rows, _, _ = rank(w.day, name)
                    pairs += (score, w.sym)
                    pair_rows.append(number)
                for name in w.remove:
                    _, _, gone, gone_rows = rank(w.day, name)
                    gone.append(w.sym)
                    gone_rows.append(number)
                near = 0
                if w.near_band:
                    near = position(w.day, NEAR_LULD)
                    banded = True
                clock_fields += (w.sym, w.sym + ":tie")
                rows.append(
                    (
                        table.unique(keys.row(w.day, w.sym, self.shards)),
                        w.sym,
                        w.t,
                        w.tie,
                        _flat(w.fields),
                        _flat(w.static),
                        near,
                        int(w.sets_bands),
                    )
                )
            flagged = flagged or banded
            groups.append(
                (
                    table(keys.state(d, f"clock:{clock}", shard)),
                    table(keys.state(d, UPDATED, shard)),
                    rows,
                    table(keys.state(d, BANDS, shard)) if banded else 0,
                    clock_fields,
                )
            )
        # near_luld changes only when rows.lua re-ranks a row with bands there: named then
        touched = tuple(sorted({name for _, name in positions} - {NEAR_LULD}))
        near_touched = (NEAR_LULD,) if flagged else ()
        call = RowsCall(
            ttl=keys.DAY_TTL_SECONDS,
            channel=keys.CHANGES_CHANNEL,
            message=change_notice(parts, touched, day),
            boards=boards,
            groups=groups,
            ranks=[(pos, *lists) for pos, lists in ranks.items()],
            near_pct=NEAR_LULD_PCT,
            near_message=change_notice(parts, touched + near_touched, day) if flagged else "",
        )
        return await self._rows(seen, self.seen_ttl, table.keys, call, touched, maybe=near_touched)


def _flat(mapping: dict[str, object]) -> list[object]:
    """name, value, ... with floats formatted as ``%.10g``: here, not in Lua, where the same
    formatting cost Redis a sixth of the script's time (the primary is the scarcer CPU)."""
    out: list[object] = []
    for name, value in mapping.items():
        out += (name, f"{value:.10g}" if type(value) is float else value)
    return out
