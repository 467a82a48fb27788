"""Runners in market mode: a run moves a price by its own log return, not by hours of drift.

A thin ticker may not move for hours before its run starts; the drift was once applied over all
of that gap, so a whole-day run from 04:00 sent prices of ~10^20 and the boards' truth ranked
them (the scanner rejected those bars as insane).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

from stampede.sim.model import MarketModel
from stampede.sim.profile import PREMARKET_START, REGULAR_START
from stampede.sim.universe import build_history, build_universe
from support.sim import DAY as DAY_ISO

DAY = date.fromisoformat(DAY_ISO)


def test_a_runner_that_had_not_moved_for_hours_moves_by_its_run_only() -> None:
    universe = build_universe(7, 200)
    model = MarketModel(universe, build_history(universe, DAY, 3, 7), DAY, 7)
    runner = replace(model.runners[0], start_s=REGULAR_START + 600, duration_s=180)
    model.runners = [runner]
    model.gappers = []
    model.last_move[runner.sym] = PREMARKET_START  # no move since 04:00
    start = model.mid[runner.sym]
    for s in range(runner.start_s - 5, runner.start_s + runner.duration_s + 5):
        model.step(s)
    moved = math.log(model.mid[runner.sym] / start)
    # its log return, give or take a few minutes of its (boosted) volatility and LULD pauses
    assert moved < runner.log_return + 0.5, (moved, runner)
    assert moved > 0  # and it did run
