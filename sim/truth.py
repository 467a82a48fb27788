"""Ground truth: what the boards should show, computed from the ``A`` bars actually SENT.

Only bars that went out on a connection count (per API key), so an end-to-end test can
compare the scanner's boards with this exactly. Definitions (``shared/scanner-definitions.md``
and the scoring functions):

- last = ``c`` of the latest sent ``A`` bar; volume = its ``av``; open = its ``op`` (0 = not
  open yet); day high = the highest ``h`` sent;
- prev close = the previous session's ``c`` from the grouped daily bars REST serves;
- gainers / losers: (last - prev close) / prev close x 100 over every ticker with a prev close
  and at least one bar today (no volume filter), descending / ascending;
- gappers: (open - prev close) / prev close x 100, where open = ``op`` once the ticker has
  opened, else the latest (pre-market) price; descending;
- from_open: (last - op) / op x 100 for tickers with an official open; descending;
- volume: ``av`` descending.
Ties are broken by ticker, ascending.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stampede.sim.columns import Columns

BOARDS = ("gainers", "losers", "gappers", "from_open", "volume")


class Truth:
    def __init__(self, symbols: list[str], prev_close: np.ndarray) -> None:
        self.symbols = list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        n = len(self.symbols)
        self.prev_close = np.asarray(prev_close, dtype=np.float64).copy()
        self.last = np.full(n, np.nan)
        self.volume = np.zeros(n)
        self.open = np.zeros(n)
        self.high = np.full(n, -np.inf)
        self.bars = np.zeros(n, dtype=np.int64)
        self.updated_ms = 0

    def apply_bars(self, batch: Columns, rows: np.ndarray | None = None) -> None:
        """Record sent ``A`` bars (one second's batch: each ticker at most once)."""
        sym = batch.sym if rows is None else batch.sym[rows]
        if not len(sym):
            return

        def pick(a: np.ndarray) -> np.ndarray:
            return a if rows is None else a[rows]

        c = batch.cols
        self.last[sym] = pick(c["c"])
        self.volume[sym] = pick(c["av"])
        op = pick(c["op"])
        self.open[sym] = np.where(op > 0, op, self.open[sym])
        self.high[sym] = np.maximum(self.high[sym], pick(c["h"]))
        self.bars[sym] += 1
        self.updated_ms = max(self.updated_ms, int(pick(c["e"]).max()))

    def apply_item(self, item: dict[str, Any]) -> None:
        """Record one sent ``A`` bar given as a decoded dict (replay)."""
        sym = item.get("sym")
        if not isinstance(sym, str):
            return
        i = self.index.get(sym)
        if i is None:
            i = self._grow(sym)
        self.last[i] = float(item.get("c", np.nan))
        self.volume[i] = float(item.get("av", 0.0))
        op = float(item.get("op", 0.0) or 0.0)
        if op > 0:
            self.open[i] = op
        self.high[i] = max(self.high[i], float(item.get("h", -np.inf)))
        self.bars[i] += 1
        self.updated_ms = max(self.updated_ms, int(item.get("e", 0)))

    def _grow(self, sym: str) -> int:
        self.index[sym] = len(self.symbols)
        self.symbols.append(sym)
        self.prev_close = np.append(self.prev_close, np.nan)
        self.last = np.append(self.last, np.nan)
        self.volume = np.append(self.volume, 0.0)
        self.open = np.append(self.open, 0.0)
        self.high = np.append(self.high, -np.inf)
        self.bars = np.append(self.bars, 0)
        return self.index[sym]

    def snapshot(self, limit: int = 50, symbols: list[str] | None = None) -> dict[str, Any]:
        seen = self.bars > 0
        ranked = seen & (self.prev_close > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            change = (self.last - self.prev_close) / self.prev_close * 100
            gap_open = np.where(self.open > 0, self.open, self.last)
            gap = (gap_open - self.prev_close) / self.prev_close * 100
            from_open = (self.last - self.open) / self.open * 100
        boards = {
            "gainers": self._rank(change, ranked, descending=True, limit=limit),
            "losers": self._rank(change, ranked, descending=False, limit=limit),
            "gappers": self._rank(gap, ranked, descending=True, limit=limit),
            "from_open": self._rank(
                from_open, seen & (self.open > 0), descending=True, limit=limit
            ),
            "volume": self._rank(self.volume, seen, descending=True, limit=limit),
        }
        wanted = (
            np.nonzero(seen)[0]
            if symbols is None
            else [self.index[s] for s in symbols if s in self.index]
        )
        rows = {}
        for i in wanted:
            pc = self.prev_close[i]
            rows[self.symbols[i]] = {
                "last": _num(self.last[i]),
                "prev_close": _num(pc),
                "open": _num(self.open[i]) or None,
                "volume": _num(self.volume[i]),
                "high": _num(self.high[i]),
                "bars": int(self.bars[i]),
                "change_pct": _num(change[i]) if ranked[i] else None,
                "gap_pct": _num(gap[i]) if ranked[i] else None,
                "from_open_pct": _num(from_open[i]) if self.open[i] > 0 and seen[i] else None,
            }
        return {
            "updated_ms": self.updated_ms,
            "definitions": __doc__.split("Definitions")[1].strip(),
            "boards": boards,
            "symbols": rows,
        }

    def _rank(
        self, metric: np.ndarray, eligible: np.ndarray, descending: bool, limit: int
    ) -> list[dict[str, Any]]:
        idx = np.nonzero(eligible & np.isfinite(metric))[0]
        names = np.array([self.symbols[i] for i in idx], dtype=str)
        key = -metric[idx] if descending else metric[idx]
        order = np.lexsort((names, key)) if len(idx) else np.array([], dtype=np.int64)
        if limit > 0:
            order = order[:limit]
        return [{"sym": self.symbols[idx[j]], "value": float(metric[idx[j]])} for j in order]


def _num(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
