"""End to end, as `stampede up` runs it on the simulated feed: the rows carry float, shares,
market cap and short interest equal to the simulator's truth, and news articles the simulator
publishes reach their rows and the news board, each with its own headline and time. How fast
is printed, not asserted: speed is measured in benchmarks, never in timed tests.

The simulated day starts at 08:59:30 ET, when the wire is busy (about one article every 7 s).
A smaller market (1,500 tickers) keeps the one-overview-per-ticker load short.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stampede.functions.refdata.fundamentals import ROW_FIELDS
from support.pipeline import Pipeline

pytestmark = pytest.mark.slow

ARTICLES = 3  # articles followed from the simulator to the rows


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir: Path = tmp_path_factory.mktemp("up-reference")
    pipeline = Pipeline(workdir, start="08:59:30", seed=5, env={"SIM_SYMBOLS": "1500"})
    try:
        pipeline.start()
        yield pipeline
    finally:
        pipeline.stop()


def _poll(what: str, timeout: float, probe, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}")


def test_rows_carry_the_reference_fields_of_the_truth(pipeline: Pipeline) -> None:
    gateway = httpx.Client(base_url=pipeline.gateway_url, timeout=10)

    def truth_of(rows: list[dict]) -> dict:
        symbols = ",".join(r["sym"] for r in rows)
        return httpx.get(
            f"{pipeline.sim_url}/_sim/truth", params={"limit": 0, "symbols": symbols}, timeout=20
        ).json()["symbols"]

    def loaded() -> tuple[list[dict], dict] | None:  # the fundamentals load runs in the background
        rows = gateway.get("/api/boards/volume", params={"limit": 50}).json()["rows"]
        if len(rows) < 50 or not any("market_cap" in r for r in rows):
            return None
        truth = truth_of(rows)  # the rows are written 1,000 a round trip: wait for the last
        done = all(("market_cap" in r) == ("market_cap" in truth[r["sym"]]) for r in rows)
        return (rows, truth) if done else None

    rows, truth = _poll("reference fields on the rows", 120, loaded, interval=1.0)
    for row in rows:
        expected = truth[row["sym"]]
        assert {f for f in ROW_FIELDS if f in row} == {f for f in ROW_FIELDS if f in expected}
        for field in ROW_FIELDS:
            if isinstance(row.get(field), str):  # the as-of dates
                assert row[field] == expected[field], (row["sym"], field)
            elif field in row:
                assert row[field] == pytest.approx(expected[field], rel=1e-12), (row["sym"], field)


def test_news_reaches_the_row_and_the_news_board(pipeline: Pipeline) -> None:
    sim = httpx.Client(base_url=pipeline.sim_url, timeout=10)
    gateway = httpx.Client(base_url=pipeline.gateway_url, timeout=10)
    key = {"apiKey": pipeline.scanner.api_key}

    def newest() -> dict:
        return sim.get("/v2/reference/news", params={**key, "limit": 1}).json()["results"][0]

    def arrived(article: dict, published: int) -> bool:
        ticker = article["tickers"][0]
        row_news = gateway.get(f"/api/symbols/{ticker}/news", params={"limit": 5}).json()
        board = gateway.get("/api/boards/news", params={"limit": 50}).json()["rows"]
        on_board = [r for r in board if r["sym"] == ticker]
        return any(a["id"] == article["id"] for a in row_news["articles"]) and bool(
            on_board
            and on_board[0].get("news_ms") == published
            and on_board[0].get("headline") == article["title"]
        )

    latencies = []
    seen = newest()["id"]
    for _ in range(ARTICLES):
        article = _poll("a new article", 60, lambda: (a := newest())["id"] != seen and a)  # noqa: B023
        seen = article["id"]
        clock = sim.get("/_sim/clock").json()
        published = _published_ms(article["published_utc"])
        published_wall = published - clock["sim_ms"] + clock["wall_ms"]  # speed 1
        _poll(
            f"article {seen[:8]} on its row and the news board",
            30,
            lambda: arrived(article, published),  # noqa: B023 - called before the next turn
            0.02,
        )
        latencies.append(time.time() * 1000 - published_wall)
    print(f"news latency, simulator publish -> row and board (ms): {latencies}")


def _published_ms(published_utc: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(published_utc.replace("Z", "+00:00")).timestamp() * 1000)
