"""Load mode (``--rate``) runs for hours: prices must stay realistic however long it runs
(the benchmark once saw runaway prices of ~$2x10^10 within seconds)."""

from __future__ import annotations

from datetime import date

import numpy as np

from stampede.sim.model import MarketModel
from stampede.sim.profile import REGULAR_START
from stampede.sim.universe import build_history, build_universe
from support.sim import DAY as DAY_ISO

DAY = date.fromisoformat(DAY_ISO)


def test_load_mode_prices_stay_near_their_reference() -> None:
    universe = build_universe(5, 400)
    model = MarketModel(universe, build_history(universe, DAY, 3, 5), DAY, 5, rate=3000)
    start = universe.prev_close.astype(np.float64)
    # Start while a momentum runner is active: its drift times the time since the ticker's last
    # move (hours, at the start of a load run) is what once made load-mode prices explode.
    first = min(r.start_s for r in model.runners) + 5
    assert first > REGULAR_START
    seen = np.zeros(universe.size, dtype=bool)
    for s in range(first, first + 900):
        out = model.step(s)
        assert out.trades is not None and out.bars is not None
        ratio = out.trades.cols["p"] / start[out.trades.sym]
        assert ratio.min() >= 0.5 and ratio.max() <= 2.0, (s, ratio.min(), ratio.max())
        for col in ("o", "h", "l", "c", "vw"):
            bar_ratio = out.bars.cols[col] / start[out.bars.sym]
            assert bar_ratio.min() >= 0.5 and bar_ratio.max() <= 2.0, (s, col)
        seen[out.trades.sym] = True
    assert seen.all()  # every ticker traded, so every price was checked
    final = model.mid / start
    assert final.min() >= 0.5 and final.max() <= 2.0
    assert final.std() > 0  # prices still move
