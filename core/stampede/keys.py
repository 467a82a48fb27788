"""The Redis key schema: the store between the functions and the gateway.

Every market key is scoped by trading day (ET date, ``YYYY-MM-DD``) and expires a few days
later. A new day therefore starts on new, empty keys: there is no reset to run, and nothing
that could meet the 04:00 or 09:30 burst (the seed scanner's morning crash).

Keys a function's script touches carry a Redis Cluster hash tag ``{sN}`` (literal braces) naming
the symbol shard ``N`` they belong to, so every key of one script call - that shard's rows, state,
boards and idempotency markers - lives in one slot, and a later Redis Cluster needs no rewrite.
With ``REDIS_SHARDS=1`` (the default) every symbol is in shard 0: one Redis, one script call.

- ``sp:{day}:{sN}:board:{board}``  sorted set, member = symbol, score = the board's metric; with
  several shards each shard ranks its own symbols and a reader merges the shards' tops
- ``sp:{day}:{sN}:row:{SYM}``      hash of the row fields a dashboard shows (see ``ROW_FIELDS``)
- ``sp:{day}:{sN}:seen:{ce_id}``   idempotency marker of an applied CloudEvent's part (SET EX)
- ``sp:{day}:{sN}:state:{name}``   a function's working state (clocks, packed symbol state)
- ``sp:{day}:once:{action}``       once-a-day latch across replicas (SET NX EX)
- ``sp:{day}:{sN}:bars:{SYM}``     hash: the day's minute bars of a symbol, for the symbol view
- ``sp:{day}:{sN}:halthist:{SYM}`` hash: the day's halts and resumes of a symbol
- ``sp:{day}:{sN}:news:{SYM}``     sorted set: the day's news articles of a symbol (JSON), by time
- ``sp:ref:{ref}:{day}:{name}``    reference data loaded before the session (hashes by symbol)
- channel ``sp:changes``           pub/sub: a function applied a batch touching these boards
"""

from __future__ import annotations

import re
import zlib

from redis.crc import key_slot

PREFIX = "sp"
CHANGES_CHANNEL = f"{PREFIX}:changes"
# set for a moment while the live feed's board writes run late; background loads pause on it
LIVE_LATE = f"{PREFIX}:live:late"
DAY_TTL_SECONDS = 4 * 24 * 3600
_BOARD_KEY = re.compile(re.escape(PREFIX) + r":(\d{4}-\d{2}-\d{2}):\{s\d+\}:board:")


def shard_of(symbol: str, shards: int) -> int:
    """The shard a symbol's keys live in: stable across processes and restarts (crc32)."""
    return zlib.crc32(symbol.encode()) % shards if shards > 1 else 0


def tag_slot(shard: int) -> int:
    """The Redis Cluster slot of shard N's hash tag ``{sN}`` (CRC16 of ``sN`` mod 16384)."""
    return key_slot(f"s{shard}".encode())


def tag_primary(shard: int, primaries: int) -> int:
    """Which of ``primaries`` serves shard N's slot, so that each serves the same number of
    shards (the local cluster and the prod create Job assign the slots so)."""
    return shard % primaries


def tagged(day: str, shard: int) -> str:
    """The common start of every key of ``shard`` on ``day`` (ends with the hash tag)."""
    return f"{PREFIX}:{day}:{{s{shard}}}"


def board(day: str, name: str, shard: int = 0) -> str:
    return f"{tagged(day, shard)}:board:{name}"


def board_day(key: str) -> str | None:
    """The trading day of a board key (None when ``key`` is not one)."""
    match = _BOARD_KEY.match(key)
    return match.group(1) if match else None


BOARD_PATTERN = f"{PREFIX}:*:board:*"  # SCAN match for every board key of any day and shard


def row(day: str, symbol: str, shards: int = 1) -> str:
    return f"{tagged(day, shard_of(symbol, shards))}:row:{symbol}"


def seen(day: str, event_id: str, shard: int = 0) -> str:
    return f"{tagged(day, shard)}:seen:{event_id}"


def once(day: str, action: str) -> str:
    return f"{PREFIX}:{day}:once:{action}"


def reference(day: str, name: str) -> str:
    """Reference data of ``day``. Every day's reference hashes share one hash tag (``{ref}``),
    so a load replaces them in one MULTI/EXEC on a Redis Cluster too (a few MB, one slot)."""
    return f"{PREFIX}:ref:{{ref}}:{day}:{name}"


def state(day: str, name: str, shard: int = 0) -> str:
    """Day-scoped working state of a function (clocks, packed symbol state), not shown to users."""
    return f"{tagged(day, shard)}:state:{name}"


def bars(day: str, symbol: str, shards: int = 1) -> str:
    """Hash of the day's minute bars of a symbol: window start (Unix ms) -> bar (bars function)."""
    return f"{tagged(day, shard_of(symbol, shards))}:bars:{symbol}"


def halt_history(day: str, symbol: str, shards: int = 1) -> str:
    """Hash of the day's halts and resumes of a symbol: ``{ms}:{seq}`` -> event (bars function)."""
    return f"{tagged(day, shard_of(symbol, shards))}:halthist:{symbol}"


def news(day: str, symbol: str, shards: int = 1) -> str:
    """Sorted set of the day's articles about a symbol: score = publication ms, member = JSON
    (news function; the gateway's /api/symbols/{sym}/news). In the symbol's shard, beside its row."""
    return f"{tagged(day, shard_of(symbol, shards))}:news:{symbol}"
