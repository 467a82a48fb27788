"""Momentum's Redis side: the layout of ``momentum.lua``'s arguments and packed symbol state.

One script call per shard and group commit merges every symbol's reduced trades into its state
and derives the window metrics as of the symbol's newest trade, recomputed at most once per
feed second (otherwise brought up to date from the batch alone). A symbol's state is a small
header (``sp:{day}:{sN}:state:mom:{SYM}``, rewritten each visit) and three packed record lists
in keys of their own (:func:`state_keys`), written by what changed: a visit sends Redis, and so
its replicas, the header and a record or two instead of the whole window. The layout is defined here once:
:class:`MomentumCall` (ARGV[3]) and the state's struct formats, which :func:`decode_state`
reads for tests and tools.

Per shard and day the script also keeps ``momentum_clock`` (the newest trade of any symbol:
the feed's clock), ``momentum_live`` (symbol -> its clock, to drop stale symbols from the
boards) and the row ``updated_ms`` mirror shared with ``store.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from stampede import keys
from stampede.boards import BOARDS as CATALOGUE
from stampede.functions.commit import E, Flushed, Part
from stampede.functions.lua import ApplyScript
from stampede.functions.momentum.scoring import SymbolTrades
from stampede.functions.settings import FunctionSettings
from stampede.functions.store import UPDATED, KeyTable, change_notice, seen_keys
from stampede.redisclient import RedisClient

# in catalogue order, which is momentum.lua's boards 1..4
WINDOW_BOARDS = tuple(b.name for b in CATALOGUE if b.windowed)
HOD_BOARD = "new_highs"
BOARDS = (*WINDOW_BOARDS, HOD_BOARD)
LOOKBACK_MINUTES = 5  # how far before "1/5 minutes ago" a last price may be looked up

# The packed state, little-endian, as momentum.lua writes it. HEADER ends with each list's record
# count in its key, then how many of those lead it dead (pruned, not yet rewritten away).
HEADER = struct.Struct("<" + "d" * 18 + "IIIIII")
COUNT = struct.Struct("<IId")  # second, trades, cents: the last 60 seconds
PRICE = struct.Struct("<IdHd")  # second, last price, its ms within the second, sequence
MINUTE = struct.Struct("<II")  # minute, trades: the whole day

StateKeys = tuple[str, str, str, str]
# (state key index (its three list keys follow it in KEYS), row key index, symbol, newest ms,
#  last t (-1: none), q, p, high p, t (-1: none), low p, t, pre-market high p, t, then per
#  second ascending: second, trades, cents,
#  price ms (-1: no price), sequence, price): one flat list per symbol, cheap to unpack in Lua
SymbolRow = list[float | str]
# (clock, live, updated mirror, momentum_1m, momentum_5m, tape_speed, dollar_volume_1m,
#  new_highs) key indices, newest trade ms, symbols
DayGroup = tuple[int, int, int, int, int, int, int, int, int, list[SymbolRow]]


class MomentumCall(msgspec.Struct, array_like=True):
    """ARGV[3] of ``momentum.lua`` (positional: the Lua side reads ``p[1]``..``p[8]``)."""

    ttl: int
    channel: str
    message: str
    tape_seconds: int
    stale_ms: int
    cap: int
    lookback: int
    groups: list[DayGroup]


@dataclass(frozen=True, slots=True)
class SymbolState:
    """A decoded packed state (what the script keeps per symbol and day)."""

    asof_ms: int
    last_price: float | None
    tape_trades: int  # trades in the tape window, as of second ``second``
    cents_1m: int  # cents traded in the 60 seconds up to ``second``
    second: int
    counts: list[tuple[int, int, int]]  # (second, trades, cents)
    prices: list[tuple[int, float, int, int]]  # (second, price, ms within second, sequence)
    minutes: list[tuple[int, int]]  # (minute, trades)


def state_keys(day: str, sym: str, shard: int) -> StateKeys:
    """A symbol's state: its header, then its count, price and minute lists (one hash tag)."""
    header, counts, prices, minutes = (
        keys.state(day, f"{part}:{sym}", shard) for part in ("mom", "momc", "momp", "momm")
    )
    return header, counts, prices, minutes


def decode_state(values: Sequence[bytes | None]) -> SymbolState:
    """The state from the values of :func:`state_keys` (an MGET of them)."""
    header, *packed = values
    assert header is not None, "no momentum state"
    h = HEADER.unpack_from(header)
    lists = []
    for record, raw, n, dead in zip((COUNT, PRICE, MINUTE), packed, h[18:21], h[21:24]):
        lists.append([record.unpack_from(raw or b"", i * record.size) for i in range(dead, n)])
    counts, prices, minutes = lists
    return SymbolState(
        asof_ms=int(h[0]),
        last_price=h[3] if h[1] >= 0 else None,
        tape_trades=int(h[11]),
        cents_1m=int(h[12]),
        second=int(h[10]),
        counts=[(s, n, int(c)) for s, n, c in counts],
        prices=[(s, p, off, int(q)) for s, p, off, q in prices],
        minutes=minutes,
    )


_NONE = (-1, 0, 0.0)
_NO_EXTREME = (0.0, -1)


def _symbol_row(table: KeyTable, symbol_keys: tuple[StateKeys, str], e: SymbolTrades) -> SymbolRow:
    state, row_key = symbol_keys
    header = table.unique(state[0])
    for key in state[1:]:  # consecutive after the header's index, as momentum.lua expects
        table.unique(key)
    row: SymbolRow = [
        header,
        table.unique(row_key),
        e.sym,
        e.newest_ms,
        *(e.last or _NONE),
        *(e.high or _NO_EXTREME),
        *(e.low or _NO_EXTREME),
        *(e.premarket_high or _NO_EXTREME),
    ]
    seconds = e.seconds
    for second in sorted(seconds):
        b = seconds[second]
        row += (second, b.trades, b.cents, *(b.last or _NONE))
    return row


class Window:
    """Runs ``momentum.lua``: one call per shard for a whole group commit."""

    def __init__(self, redis: RedisClient, settings: FunctionSettings) -> None:
        self._script = ApplyScript(redis, Path(__file__).with_name("momentum.lua"))
        self._settings = settings
        self._symbol_keys: dict[tuple[str, int, str], tuple[StateKeys, str]] = {}

    def symbol_keys(self, day: str, shard: int, sym: str) -> tuple[StateKeys, str]:
        """(state keys, row key) of a symbol, memoised: the same few thousand every call."""
        found = self._symbol_keys.get((day, shard, sym))
        if found is None:
            if len(self._symbol_keys) > 50_000:  # a new day: yesterday's are not needed
                self._symbol_keys.clear()
            found = self._symbol_keys[(day, shard, sym)] = (
                state_keys(day, sym, shard),
                keys.row(day, sym, self._settings.redis_shards),
            )
        return found

    async def apply(
        self, shard: int, parts: Sequence[Part[E]], symbols: list[SymbolTrades]
    ) -> Flushed:
        s = self._settings
        seen = seen_keys(parts, shard)
        table = KeyTable(len(seen))
        by_day: dict[str, list[SymbolTrades]] = {}
        for entry in symbols:
            by_day.setdefault(entry.day, []).append(entry)
        groups: list[DayGroup] = []
        for day, entries in sorted(by_day.items()):
            m1, m5, tape, dollars, highs = (table(keys.board(day, b, shard)) for b in BOARDS)
            groups.append(
                (
                    table(keys.state(day, "momentum_clock", shard)),
                    table(keys.state(day, "momentum_live", shard)),
                    table(keys.state(day, UPDATED, shard)),
                    m1,
                    m5,
                    tape,
                    dollars,
                    highs,
                    max(e.newest_ms for e in entries),
                    [_symbol_row(table, self.symbol_keys(day, shard, e.sym), e) for e in entries],
                )
            )
        call = MomentumCall(
            ttl=keys.DAY_TTL_SECONDS,
            channel=keys.CHANGES_CHANNEL,
            message=change_notice(parts, BOARDS, max(by_day)),
            tape_seconds=s.function_tape_seconds,
            stale_ms=s.function_momentum_stale_seconds * 1000,
            cap=s.function_board_size,
            lookback=LOOKBACK_MINUTES,
            groups=groups,
        )
        return await self._script(seen, s.function_seen_ttl_seconds, table.keys, call, BOARDS)
