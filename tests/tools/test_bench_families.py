"""The bench's board-write latency per event family (tools/bench/figures.py): the verdicts are
on market data; news and reference loads, caught up at a start, have figures of their own."""

from __future__ import annotations

from stampede import metricnames as names
from stampede.tools.bench import figures
from stampede.tools.promscrape import Snapshot


def _page(fast: int, slow: int) -> str:
    """A function's board-write histogram: ``fast`` writes within 0.1 s, ``slow`` at 30 s."""
    name = names.PIPELINE_LATENCY
    rows = [
        f'{name}_bucket{{stage="board_write",le="{le}"}} {n}'
        for le, n in (("0.1", fast), ("1.0", fast), ("60.0", fast + slow), ("+Inf", fast + slow))
    ]
    rows.append(f'{name}_count{{stage="board_write"}} {fast + slow}')
    return f"# TYPE {name} histogram\n" + "\n".join(rows) + "\n"


def _round(pages: dict[str, str]) -> Snapshot:
    return Snapshot.merge(Snapshot.parse(text, extra={"component": c}) for c, text in pages.items())


def test_news_caught_up_late_does_not_make_market_boards_late() -> None:
    empty = {c: _page(0, 0) for c in ("function-momentum", "function-momentum-2", "function-news")}
    later = {
        "function-momentum": _page(900, 0),
        "function-momentum-2": _page(100, 0),
        "function-news": _page(0, 3000),  # the morning's articles, published at a 13:00 start
    }
    before, after = _round(empty), _round(later)
    market = figures.board_write(before, after)
    news = figures.board_write(before, after, "news")
    assert market["n"] == 1000 and market["p99"] is not None and market["p99"] <= 0.1
    assert news["n"] == 3000 and news["p99"] is not None and news["p99"] > 1
    mixed = figures.latency(before, after, names.PIPELINE_LATENCY, stage="board_write")
    assert mixed["p99"] is not None and mixed["p99"] > 1  # what the verdict read before
    assert figures.family_of("function-refdata") == "reference"
