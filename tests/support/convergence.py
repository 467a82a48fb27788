"""What "the boards converged" means after a fault, checked against the simulator's truth.

Events in flight while a part is down are lost on purpose (fresh over complete), so only the
symbols that printed a bar AFTER the last fault was repaired are compared: for those, the
row's cumulative fields (last, volume, change) come back with the next bar and must equal what
the simulator sent (``/_sim/truth``), and so must their ranks among themselves on the gainers,
losers and volume boards. Used by the fault tests (``tests/faults``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from redis.cluster import ClusterNode

from stampede import keys
from stampede.functions.momentum.window import decode_state, state_keys
from stampede.tools import localstack
from support.pipeline import Pipeline

TRUTH_BOARDS = {  # board -> (truth field, descending)
    "gainers": ("change_pct", True),
    "losers": ("change_pct", False),
    "volume": ("volume", True),
}


def redis_of(p: Pipeline, decode: bool = True) -> Any:
    """A client of the pipeline's Redis: a ``RedisCluster`` when it runs one."""
    if not isinstance(p.scanner.redis, localstack.RedisCluster):
        return redis.Redis.from_url(p.redis_url, decode_responses=decode, socket_timeout=5)
    cluster = p.scanner.redis
    nodes = [ClusterNode(n.host, n.port) for n in cluster.nodes if n.running]
    return redis.RedisCluster(
        startup_nodes=nodes, decode_responses=decode, socket_timeout=5, **cluster.nodes[0].auth
    )


def board_members(p: Pipeline, r: Any, day: str, board: str) -> list[tuple[str, float]]:
    """Every (member, score) of a board, over all its symbol shards."""
    members: list[tuple[str, float]] = []
    for shard in range(p.scanner.redis_shards):
        members += r.zrange(keys.board(day, board, shard), 0, -1, withscores=True)
    return members


def momentum_counts(p: Pipeline, day: str) -> tuple[Counter[Any], Counter[Any], dict[str, int]]:
    """Trades momentum counted, from its packed state per symbol: (symbol, second) -> count over
    the symbol's last 60 s, (symbol, minute) -> count over the day, and symbol -> the first
    second its per-second records cover."""
    per_second: Counter[tuple[str, int]] = Counter()
    per_minute: Counter[tuple[str, int]] = Counter()
    kept: dict[str, int] = {}
    raw = redis_of(p, decode=False)
    for shard in range(p.scanner.redis_shards):
        prefix = keys.state(day, "mom:", shard).encode()
        for key in list(raw.scan_iter(match=prefix + b"*", count=1000)):
            sym = key[len(prefix) :].decode()
            state = decode_state(raw.mget(state_keys(day, sym, shard)))
            kept[sym] = state.second - 59
            for second, n, _ in state.counts:
                per_second[(sym, second)] = n
            for minute, n in state.minutes:
                per_minute[(sym, minute)] = n
    raw.close()
    return per_second, per_minute, kept


async def until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    """Poll a blocking ``check`` (run in a thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, redis.RedisError, OSError):
            last = await asyncio.to_thread(check)
            if last:
                return last
        await asyncio.sleep(interval)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s (last: {last!r})")


def board_writes(p: Pipeline, function: str) -> float:
    return p.metrics(f"function-{function}").value("stampede_function_events_applied_total")


async def flowing(p: Pipeline, function: str, timeout: float = 30.0) -> None:
    """The function applies new events again (its applied counter moves)."""
    before = await asyncio.to_thread(board_writes, p, function)
    await until(lambda: board_writes(p, function) > before, timeout, f"{function} applying events")


def traded_since(final: dict[str, Any], before: dict[str, Any]) -> set[str]:
    """Symbols with a bar in ``final`` that ``before`` (a truth taken once healthy) lacks."""
    seen = before["symbols"]
    return {
        sym
        for sym, row in final["symbols"].items()
        if row["bars"] > seen.get(sym, {}).get("bars", 0)
    }


REPAIRED_SYMBOLS = 300  # compared after a fault: enough for every board's top 10 to mean much


async def feed_stopped_after(
    p: Pipeline, healthy: dict[str, Any], symbols: int = REPAIRED_SYMBOLS
) -> dict[str, Any]:
    """The still truth once ``symbols`` symbols printed a bar after ``healthy`` (a truth taken
    once everything had recovered), or once the day's feed ended by itself: the feed is then
    stopped (``/_sim/feed/stop``) instead of waiting for the 20:00 close, a minute or more of
    wall time the comparison does not need."""

    def enough() -> bool:
        truth = p.truth(limit=1)
        ended = truth["sim_ms"] - truth["updated_ms"] > 5_000
        return ended or len(traded_since(truth, healthy)) >= symbols

    await until(enough, 150, f"{symbols} symbols printing a bar after the recovery", interval=1)
    await asyncio.to_thread(p.sim_control, "feed/stop")
    return await asyncio.to_thread(p.wait_for_feed_end, 30)


async def assert_converged(p: Pipeline, final: dict[str, Any], symbols: set[str]) -> None:
    """Rows and ranks of ``symbols`` equal the truth once the pipeline drained (<= 30 s), and
    the gateway serves the volume board Redis holds."""
    day = final["day"]
    r = redis_of(p)
    deadline = time.monotonic() + 30
    shards = p.scanner.redis_shards
    while (wrong := await asyncio.to_thread(_row_mismatches, r, day, final, symbols, shards)) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(1)
    assert wrong == []
    for board, (field, descending) in TRUTH_BOARDS.items():
        members = await asyncio.to_thread(board_members, p, r, day, board)
        got = sorted(
            ((sym, round(score, 6)) for sym, score in members if sym in symbols),
            key=lambda x: (-x[1] if descending else x[1], x[0]),
        )[:10]
        assert got == _truth_top(final, symbols, field, descending), board
    # The gateway serves the same board (its REST snapshot, read from Redis).
    answer = await asyncio.to_thread(
        httpx.get, f"{p.gateway_url}/api/boards/volume", params={"limit": 10}, timeout=10
    )
    volume = await asyncio.to_thread(board_members, p, r, day, "volume")
    top = [sym for sym, _ in sorted(volume, key=lambda x: (x[1], x[0]), reverse=True)[:10]]
    assert [row["sym"] for row in answer.json()["rows"]] == top


def _row_mismatches(
    r: Any, day: str, truth: dict[str, Any], symbols: set[str], shards: int
) -> list[str]:
    pipe = r.pipeline()
    for sym in sorted(symbols):
        pipe.hmget(keys.row(day, sym, shards), "last", "volume", "change_pct")
    wrong = []
    for sym, (last, volume, change) in zip(sorted(symbols), pipe.execute()):
        want = truth["symbols"][sym]
        got = (_number(last), _number(volume), _number(change))
        expected = (want["last"], want["volume"], want["change_pct"])
        if any(
            g is None or abs(g - e) > 1e-6 * max(1.0, abs(e))
            for g, e in zip(got, expected)
            if e is not None
        ):
            wrong.append(f"{sym}: {got} != {expected}")
    return wrong


def _number(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


def _truth_top(
    truth: dict[str, Any], symbols: set[str], field: str, descending: bool
) -> list[tuple[str, float]]:
    rows = [
        (sym, round(truth["symbols"][sym][field], 6))
        for sym in symbols
        if truth["symbols"][sym][field] is not None
    ]
    return sorted(rows, key=lambda x: (-x[1] if descending else x[1], x[0]))[:10]
