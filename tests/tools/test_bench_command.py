"""`stampede bench`: comparing boards with the truth, the report, and one short real run
producing its JSON.

No speed is asserted: the run only has to finish and report every stage and both verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stampede.tools.bench.figures import THROUGHPUT
from stampede.tools.bench.truth import board_match
from support.bench import run_bench


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
    assert board_match("gainers", truth, same) == {"equal": True, "matching": 3, "rows": 3}
    wrong = [{"sym": "ZZZ", "change_pct": 5.0}, *same[1:]]
    assert board_match("gainers", truth, wrong)["equal"] is False
    assert board_match("gainers", truth, same[:2])["equal"] is False


@pytest.mark.slow
def test_quick_steady_run_writes_every_stage_and_both_verdicts(tmp_path: Path) -> None:
    argv = ["--quick", "--scenario", "steady", "--shape", "market", "--rates", "1000"]
    stdout, results = run_bench([*argv, "--seconds", "6"], tmp_path / "out", 150)
    (figures,) = results["steady"]
    assert figures["offered_events_per_s"] == 1000 and figures["shape"] == "market"
    assert set(figures["throughput_per_s"]) == {key for key, _, _ in THROUGHPUT}
    assert figures["throughput_per_s"]["functions_applied"] > 0
    assert {"board_write", "dispatch"} <= set(figures["latency_s"]["pipeline"])
    assert {"sim", "bridge", "dispatch", "function-momentum", "redis-server", "gateway"} <= set(
        figures["cpu_percent"]
    )
    assert set(figures["strict"]) == set(figures["old"]) == {"held", "why_not"}
    assert figures["held"] == figures["strict"]["held"]
    messages = figures["client"]["messages"]
    assert messages.get("snapshot", 0) + messages.get("diff", 0) > 0
    assert "STEADY" in stdout and "strict" in stdout
