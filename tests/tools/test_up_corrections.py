"""End to end, as `stampede up` runs it: corrected bars from the simulator through the bridge,
JetStream and dispatch to movers and Redis.

The simulator re-sends a fifth of its bars corrected (``SIM_CORRECTION_RATE=0.2``). Every
``A`` CloudEvent the bridge publishes is recorded on core NATS; once the feed stops, each
symbol whose newest bar was a correction shows the corrected volume and last, every recorded
symbol's row equals the simulator's truth (which follows corrections), and the same
correction put on the stream again as a new CloudEvent changes no row and no board.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import nats
import pytest
import redis

from stampede import keys, signing
from stampede.boards import BOARDS
from stampede.market import Channel
from stampede.subjects import stream_subjects
from support.convergence import board_writes, redis_of, until
from support.pipeline import Pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir: Path = tmp_path_factory.mktemp("up-corrections")
    env = {"SIM_SYMBOLS": "300", "SIM_CORRECTION_RATE": "0.2"}
    pipeline = Pipeline(workdir, start="10:00:00", seed=5, env=env)
    try:
        pipeline.start()
        yield pipeline
    finally:
        pipeline.stop()


# what movers writes on a row (news, momentum and refdata keep writing theirs meanwhile)
MOVERS_FIELDS = (
    "last",
    "volume",
    "vwap",
    "open",
    "change_pct",
    "gap_pct",
    "from_open_pct",
    "rvol",
    "premarket_volume",
    "prev_close",
    "has_reference",
)


def shown(r: redis.Redis, day: str, sym: str) -> tuple[dict, dict]:
    """The movers fields of the symbol's row and every movers board."""
    boards = {
        b.name: r.zrange(keys.board(day, b.name), 0, -1, withscores=True)
        for b in BOARDS
        if b.function == "movers"
    }
    row = r.hgetall(keys.row(day, sym))
    return {k: row.get(k) for k in MOVERS_FIELDS}, boards


async def still(pipeline: Pipeline) -> bool:
    """movers applied nothing for 2 s."""
    before = await asyncio.to_thread(board_writes, pipeline, "movers")
    await asyncio.sleep(2)
    return await asyncio.to_thread(board_writes, pipeline, "movers") == before


async def test_corrected_bars_reach_the_rows_and_a_repeat_changes_nothing(pipeline) -> None:
    nc = await nats.connect(pipeline.nats_url)
    sent: dict[str, Any] = {}  # ce-id -> message (a republished batch comes twice)

    async def on_message(msg: Any) -> None:
        sent.setdefault(msg.headers["ce-id"], msg)

    subject = stream_subjects(Channel.AGGREGATE)[0]
    await nc.subscribe(subject, cb=on_message, pending_msgs_limit=-1, pending_bytes_limit=-1)
    await nc.flush()
    try:
        await asyncio.sleep(8)
        await asyncio.to_thread(pipeline.sim_control, "feed/stop")
        await asyncio.sleep(1)  # the last frames leave the simulator
        for _ in range(30):
            if await still(pipeline):
                break
        truth = await asyncio.to_thread(pipeline.truth)
        day = truth["day"]

        bars = [(b, m) for m in sent.values() for b in msgspec.json.decode(m.data)]
        first: dict[tuple[str, int], dict] = {}
        newest: dict[str, tuple[dict, Any]] = {}
        for b, m in bars:
            first.setdefault((b["sym"], b["s"]), b)
            seen = newest.get(b["sym"])
            if seen is None or (b["e"], b["av"]) > (seen[0]["e"], seen[0]["av"]):
                newest[b["sym"]] = (b, m)
        corrected = {sym: (b, m) for sym, (b, m) in newest.items() if first[(sym, b["s"])] is not b}
        assert len(bars) > len(first) and corrected, "corrections should have been sent"

        r = redis_of(pipeline)
        for sym, (b, _) in corrected.items():
            row = r.hgetall(keys.row(day, sym))
            assert (float(row["volume"]), float(row["last"])) == (b["av"], b["c"]), sym
        for sym in newest:  # bars published while recorded (earlier ones may predate the functions)
            row, expected = r.hgetall(keys.row(day, sym)), truth["symbols"][sym]
            assert float(row["volume"]) == expected["volume"], sym
            assert float(row["last"]) == pytest.approx(expected["last"], abs=1e-9), sym

        # the same correction again, as a new CloudEvent on the stream
        sym, (b, m) = next(iter(corrected.items()))
        before = shown(r, day, sym)
        applied = await asyncio.to_thread(board_writes, pipeline, "movers")
        ident = uuid.uuid4().hex
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        headers = {**m.headers, "ce-id": ident, "Nats-Msg-Id": ident, "ce-time": now}
        body = msgspec.json.encode([b])
        # signed as the bridge signs (the functions of `stampede up` accept nothing else)
        key = signing.key_of(pipeline.scanner.event_key)
        source = unquote(headers["ce-source"])
        headers[signing.HEADER] = signing.sign(key, ident, headers["ce-type"], source, body)
        await nc.jetstream().publish(m.subject, body, headers=headers)
        await until(
            lambda: board_writes(pipeline, "movers") > applied, 30, "movers applying the repeat"
        )
        after = shown(r, day, sym)
        changed = {k: (v, after[0][k]) for k, v in before[0].items() if after[0][k] != v}
        assert not changed and after[1] == before[1], changed
    finally:
        await nc.close()
