"""Corrected bars in the model: a re-sent A bar carries the late trade, and the day moves on
with it (later bars and the minute bar include it, so it is never counted twice)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import msgspec

from stampede.sim.corrections import CORRECTION_DELAY_MS
from stampede.sim.model import MarketModel
from stampede.sim.universe import build_history, build_universe

DAY = date(2025, 3, 14)
START = 10 * 3600


def run(correction_rate: float, seconds: int = 120) -> tuple[list[dict], list[dict], list[dict]]:
    """(A bars, corrections, AM bars) of two minutes from 10:00 ET, in send order per second."""
    universe = build_universe(7, 200)
    model = MarketModel(
        universe, build_history(universe, DAY, 3, 7), DAY, 7, correction_rate=correction_rate
    )
    model.fast_forward(START)
    bars, corrections, minutes = [], [], []
    for s in range(START, START + seconds):
        out = model.step(s)
        for batch, into in ((out.bars, bars), (out.corrections, corrections)):
            if batch is not None:
                into += [msgspec.json.decode(b) for b in batch.encode(universe.symbols)]
        if out.corrections is not None:  # due after its bars, before the next second's
            due = out.corrections.time - CORRECTION_DELAY_MS
            assert (due == out.bars.time[0]).all() and 0 < CORRECTION_DELAY_MS < 1000
        if out.minute_bars is not None:
            minutes += [msgspec.json.decode(b) for b in out.minute_bars.encode(universe.symbols)]
    return bars, corrections, minutes


def test_corrections_replace_their_window_and_the_day_includes_them() -> None:
    bars, corrections, minutes = run(0.05)
    plain, _, plain_minutes = run(0.0)
    assert len(bars) > 1000
    assert 0.02 < len(corrections) / len(bars) < 0.08  # the rate asked for
    original = {(b["sym"], b["s"]): b for b in bars}
    for fix in corrections:
        first = original[(fix["sym"], fix["s"])]  # the window was sent before
        late = fix["v"] - first["v"]
        assert 100 <= late <= 900 and fix["av"] - first["av"] == late
        assert fix["e"] == first["e"] and fix["op"] == first["op"]
        assert fix["l"] <= fix["c"] <= fix["h"]
        assert fix["h"] >= first["h"] and fix["l"] <= first["l"]
    # every later bar of the symbol carries the late volume: av = sum of the corrected windows
    newest: dict[tuple[str, int], dict] = {(b["sym"], b["s"]): b for b in bars}
    newest.update({(c["sym"], c["s"]): c for c in corrections})
    day = defaultdict(float)
    by_symbol = defaultdict(list)
    for (sym, _), b in sorted(newest.items(), key=lambda kv: kv[0][1]):
        by_symbol[sym].append(b)
    for sym, windows in by_symbol.items():
        start = windows[0]["av"] - windows[0]["v"]
        for b in windows:
            day[sym] += b["v"]
            assert b["av"] == start + day[sym], sym
    # the minute bars add up the corrected seconds
    for m in minutes:
        seconds = [b for b in by_symbol[m["sym"]] if m["s"] <= b["s"] < m["e"]]
        assert m["v"] == sum(b["v"] for b in seconds)
    # the rest of the market is the same with corrections on or off
    assert [(b["sym"], b["s"], b["o"]) for b in bars] == [(b["sym"], b["s"], b["o"]) for b in plain]
    assert len(minutes) == len(plain_minutes)
