"""The gateway's boards against the simulator's ground truth (``/_sim/truth``)."""

from __future__ import annotations

import math
import time

import httpx

from stampede.boards import BOARDS_BY_NAME
from stampede.tools.bench.verdict import Doc

TRUTH_BOARDS = ("gainers", "losers", "gappers", "from_open", "volume")


def compare_with_truth(status: Doc, sim: str, limit: int = 20, budget: float = 45.0) -> Doc:
    """The gateway's boards (REST) against the simulator's truth, while the feed still runs.

    Bars go out once a second, so a truth that did not change around the board read is a
    consistent point to compare; the best such point within ``budget`` seconds is reported.
    Reads that fail or time out (a saturated Redis answers slowly) are counted, not fatal.
    """
    best: Doc = {"all_match": False, "boards": {}, "consistent_points": 0, "read_errors": 0}
    deadline = time.monotonic() + budget
    with httpx.Client(timeout=10) as http:
        while time.monotonic() < deadline and not best["all_match"]:
            try:
                before = http.get(f"{sim}/_sim/truth", params={"limit": limit}).json()
                time.sleep(0.3)
                rows = {
                    name: http.get(
                        f"{status['gateway']}/api/boards/{name}", params={"limit": limit}
                    )
                    .json()
                    .get("rows", [])
                    for name in TRUTH_BOARDS
                }
                after = http.get(f"{sim}/_sim/truth", params={"limit": limit}).json()
            except (httpx.HTTPError, ValueError):
                best["read_errors"] += 1
                continue
            if before["updated_ms"] != after["updated_ms"]:
                continue
            best["consistent_points"] += 1
            result = {
                name: board_match(name, before["boards"][name], rows[name]) for name in TRUTH_BOARDS
            }
            matched = sum(r["matching"] for r in result.values())
            if matched >= sum(r["matching"] for r in best["boards"].values()):
                best["boards"] = result
                best["all_match"] = all(r["equal"] for r in result.values())
            time.sleep(0.2)
    return best


def board_match(name: str, truth: list[Doc], rows: list[Doc]) -> Doc:
    """Same values in the same order; symbols compared except where values tie."""
    metric = BOARDS_BY_NAME[name].metric
    got = [(r.get("sym"), r.get(metric)) for r in rows]
    want = [(t["sym"], t["value"]) for t in truth]
    same = [
        w[1] is not None
        and g[1] is not None
        and math.isclose(w[1], g[1], rel_tol=1e-9, abs_tol=1e-6)
        and (w[0] == g[0] or [v for _, v in want].count(w[1]) > 1)
        for w, g in zip(want, got)
    ]
    return {"equal": len(got) == len(want) and all(same), "matching": sum(same), "rows": len(want)}
