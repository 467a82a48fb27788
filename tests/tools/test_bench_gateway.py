"""`stampede bench gateway --scans distinct`: a short real run (redis-server and `stampede
gateway` as processes, WebSocket clients) reports Redis reads per tick for 2 and N clients
that each hold their own scan.

No speed is asserted. What is asserted is a count: the reads a tick makes follow the boards
watched, not the clients, so N clients with N different scans must not multiply them.
"""

from __future__ import annotations

import math

import pytest

from stampede.tools.bench import gateway as bench

CLIENTS = 20


@pytest.mark.slow
async def test_distinct_scans_report_reads_per_tick_independent_of_clients() -> None:
    reported: list[dict[str, object]] = []
    few, many = await bench.burst_phases(
        CLIENTS, seconds=3, rate=20, batch=20, scans="distinct", on_phase=reported.append
    )
    assert reported == [few, many]
    assert (few["clients"], many["clients"]) == (2, CLIENTS)
    # every client its own scan on each board: one view per client and board
    assert many["views"] == CLIENTS * len(bench.BOARDS) and few["views"] == 2 * len(bench.BOARDS)
    for figures in (few, many):
        reads = figures["redis reads/tick"]
        assert isinstance(reads, float) and math.isfinite(reads) and reads > 0, figures
        assert figures["ticks"] and figures["diffs"], figures
        assert figures["seq errors"] == 0, figures
    assert many["redis reads/tick"] < 2 * few["redis reads/tick"], (few, many)
