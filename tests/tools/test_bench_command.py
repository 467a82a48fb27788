"""`stampede bench`: the figures it derives, and one short real run producing its JSON.

No speed is asserted: the run only has to finish and report every stage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stampede.tools.bench import pipeline as bench


def _figures(applied: float, tail_p50: float | None, stale: float = 0) -> dict:
    drops = {"function CloudEvents": {"stale": stale}} if stale else {}
    return {
        "offered_events_per_s": 10_000,
        "throughput_per_s": {"functions_applied": applied},
        "tail_board_write_p50_s": tail_p50,
        "drops": drops,
    }


def test_held_needs_throughput_low_lag_and_nothing_stale() -> None:
    assert bench.held(_figures(9_600, 0.2))
    assert not bench.held(_figures(9_000, 0.2))  # fell behind
    assert not bench.held(_figures(9_600, 1.5))  # lag
    assert not bench.held(_figures(9_600, None))  # nothing written at all
    assert not bench.held(_figures(9_600, 0.2, stale=3))  # shed


def test_recovery_is_the_start_of_the_last_good_run_after_the_open() -> None:
    timeline = [
        {"t": -1.0, "board_write_p99": 5.0, "stale": 0},
        {"t": 1.0, "board_write_p99": 3.0, "stale": 0},
        {"t": 2.0, "board_write_p99": 0.3, "stale": 0},
        {"t": 3.0, "board_write_p99": 1.2, "stale": 0},
        {"t": 4.0, "board_write_p99": 0.4, "stale": 0},
        {"t": 5.0, "board_write_p99": None, "stale": 0},
        {"t": 6.0, "board_write_p99": 0.2, "stale": 0},
    ]
    assert bench.recovery_seconds(timeline) == 3.0
    timeline.append({"t": 7.0, "board_write_p99": 0.2, "stale": 4})
    assert bench.recovery_seconds(timeline) is None


def test_board_match_compares_values_in_order_and_symbols_except_ties() -> None:
    truth = [
        {"sym": "AAA", "value": 5.0},
        {"sym": "BBB", "value": 2.0},
        {"sym": "CCC", "value": 2.0},
    ]
    same = [
        {"sym": "AAA", "change_pct": 5.0},
        {"sym": "CCC", "change_pct": 2.0},
        {"sym": "BBB", "change_pct": 2.0},
    ]
    assert bench.board_match("gainers", truth, same) == {"equal": True, "matching": 3, "rows": 3}
    wrong = [{"sym": "ZZZ", "change_pct": 5.0}, *same[1:]]
    assert bench.board_match("gainers", truth, wrong)["equal"] is False
    assert bench.board_match("gainers", truth, same[:2])["equal"] is False


@pytest.mark.slow
def test_quick_steady_run_writes_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stampede.tools.cli",
            "bench",
            "--quick",
            "--scenario",
            "steady",
            "--rates",
            "1000",
            "--seconds",
            "5",
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (path,) = out.glob("*.json")
    results = json.loads(path.read_text())
    (figures,) = results["steady"]
    assert figures["offered_events_per_s"] == 1000
    assert set(figures["throughput_per_s"]) == {key for key, _, _ in bench.THROUGHPUT}
    assert figures["throughput_per_s"]["functions_applied"] > 0
    assert {"board_write", "dispatch"} <= set(figures["latency_s"]["pipeline"])
    assert {"sim", "bridge", "dispatch", "function-momentum", "redis-server", "gateway"} <= set(
        figures["cpu_percent"]
    )
    assert (
        figures["client"]["messages"].get("snapshot", 0)
        + figures["client"]["messages"].get("diff", 0)
        > 0
    )
    assert "STEADY" in run.stdout
