"""What traders filter on: float, shares outstanding, market cap and short interest, loaded by
refdata into the rows - pure checks, then against the real simulator (truth, bad answers,
resuming after a failure)."""

from __future__ import annotations

import pytest

from stampede import keys
from stampede.functions import metrics
from stampede.functions.refdata import fundamentals as fx
from stampede.functions.refdata.fundamentals_load import PROGRESS
from stampede.sim.testing import running_simulator
from support.functions import refdata_request

DAY = "2025-03-14"
FIELDS = fx.ROW_FIELDS


def requests(sim, route: str) -> float:
    """REST requests the simulator answered on a route (any status)."""
    total = 0.0
    for metric in sim.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("http_route") == route:
                total += sample.value
    return total


def test_wrong_types_are_bad_records_and_missing_values_stay_missing() -> None:
    with pytest.raises(fx.BadRecord):
        fx.parse_float({"ticker": "A", "free_float": "1,000,000"})
    with pytest.raises(fx.BadRecord):
        fx.parse_float({"ticker": "A", "free_float": 10, "free_float_percent": [1]})
    with pytest.raises(fx.BadRecord):
        fx.parse_short_interest({"ticker": "A", "short_interest": True, "settlement_date": DAY})
    with pytest.raises(fx.BadRecord):
        fx.parse_overview({"market_cap": "big"}, DAY)
    assert fx.parse_float({"ticker": "A", "free_float": None}) is None
    assert fx.parse_short_interest({"ticker": "A", "short_interest": 5}) is None  # no date
    overview = fx.parse_overview({"share_class_shares_outstanding": 9e6}, DAY)
    # no float: shares outstanding is NOT taken for the float, and there is no short % of float
    short = fx.ShortInterest(1_000_000, 2.5, "2025-02-28")
    row = fx.row_fields(None, overview, short)
    assert row == {
        "shares_outstanding": 9_000_000,
        "short_interest": 1_000_000,
        "days_to_cover": 2.5,
        "short_interest_as_of": "2025-02-28",
    }
    floated = fx.Float(4_000_000, "2025-03-01")
    assert fx.row_fields(floated, None, short)["short_pct_float"] == pytest.approx(25.0)
    older = fx.ShortInterest(7, 1.0, "2025-02-14")
    assert fx.newer(short, older) is short and fx.newer(older, short) is short


async def test_rows_carry_the_reference_fields_of_the_simulator_truth(
    function_server, http, redis
) -> None:
    async with running_simulator(
        date=DAY, start="09:00", symbols=150, seed=5, rest_rate_limit=5000
    ) as sim:
        settings = {
            "massive_rest_url": sim.rest_url,
            "massive_api_key": sim.api_key,
            "refdata_sessions": 3,
            "refdata_requests_per_second": 2000,
        }
        async with function_server("refdata", **settings) as url:
            daily = await http.post(url, headers=refdata_request(), content=b'{"part": "daily"}')
            latch_after_daily = await redis.get(keys.once(DAY, "refdata"))
            floats_after_daily = await redis.hget(keys.row(DAY, "AAPL"), "float_shares")
            answer = await http.post(url, headers=refdata_request(), content=b"{}")
        truth = sim.truth({"limit": "0", "symbols": ",".join(sim.universe.symbols)})
    # the daily part alone leaves the fundamentals for later, and then only they load
    assert daily.json()["status"] == "applied" and daily.json()["symbols"] == 150
    assert latch_after_daily == "done" and floats_after_daily is None
    assert answer.json()["ignored_parts"] == {"daily": "already loaded"}
    assert await redis.get(keys.once(DAY, "refdata:fundamentals")) == "done"
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "applied" and body["overviews"] > 140 and body["floats"] > 130
    for sym, expected in truth["symbols"].items():
        row = await redis.hgetall(keys.row(DAY, sym))
        ours = {f: row[f] for f in FIELDS if f in row}
        wanted = {f: expected[f] for f in FIELDS if f in expected}
        assert ours.keys() == wanted.keys(), sym  # absent in truth = absent in the row
        for name, value in wanted.items():
            if isinstance(value, str):
                assert ours[name] == value, (sym, name)
            else:
                assert float(ours[name]) == pytest.approx(value, rel=1e-12), (sym, name)
    assert await redis.hget(keys.reference(DAY, PROGRESS), "float") == "done"


def problem_counts() -> dict[str, float]:
    return {
        kind: metrics.REFDATA_REST_PROBLEMS.labels(kind)._value.get()
        for kind in ("server_error", "bad_json", "bad_float_record", "rate_limited", "unauthorized")
    }


async def spoiled_rows(redis, truth: dict) -> int:
    """Rows whose reference fields differ from the truth's (the others must be equal)."""
    spoiled = 0
    for sym, expected in truth["symbols"].items():
        row = await redis.hgetall(keys.row(DAY, sym))
        if {f for f in FIELDS if f in row} != {f for f in FIELDS if f in expected}:
            spoiled += 1
    return spoiled


async def test_bad_answers_are_retried_or_skipped_and_a_failed_load_resumes(
    function_server, http, redis
) -> None:
    before = problem_counts()
    async with running_simulator(
        date=DAY, start="09:00", symbols=80, seed=9, rest_rate_limit=5000
    ) as sim:
        settings = {
            "massive_rest_url": sim.rest_url,
            "massive_api_key": sim.api_key,
            "refdata_sessions": 2,
            "refdata_requests_per_second": 2000,
            "refdata_attempts": 3,
        }
        faults = sim.rest.faults
        everyone = ",".join(sim.universe.symbols)
        async with function_server("refdata", **settings) as url:
            # 500 and broken JSON are retried; a record with wrong types is skipped; 429 waits
            faults.arm("float", "500", "truncated", "wrong_type")
            faults.arm("short_interest", "429")
            first = await http.post(url, headers=refdata_request(), content=b"{}")
            after_first = problem_counts()
            spoiled_first = await spoiled_rows(
                redis, sim.truth({"limit": "0", "symbols": everyone})
            )
            # A key refused in the middle of a forced reload: 503, the work done is kept...
            faults.arm("ticker_overview", *["ok"] * 30, "401")
            forced = b'{"force": true}'
            failed = await http.post(url, headers=refdata_request(), content=forced)
            kept = await redis.hlen(keys.reference(DAY, "overview"))
            floats_asked = requests(sim, "float")
            overviews_asked = requests(sim, "ticker_overview")
            # ...and the next trigger resumes: no list asked again, only the missing overviews
            again = await http.post(url, headers=refdata_request(), content=b"{}")
            resumed_overviews = requests(sim, "ticker_overview") - overviews_asked
            resumed_floats = requests(sim, "float") - floats_asked
        truth = sim.truth({"limit": "0", "symbols": everyone})
    assert first.status_code == 200 and first.json()["status"] == "applied", first.text
    for kind in before:
        assert after_first[kind] > before[kind] or kind == "unauthorized", kind
    assert spoiled_first == 1  # the one record with wrong types, nothing else
    assert failed.status_code == 503 and failed.json()["error"] == "upstream_unavailable"
    assert problem_counts()["unauthorized"] == before["unauthorized"] + 1  # never retried
    assert 30 <= kept < 80
    assert again.status_code == 200 and again.json()["status"] == "applied", again.text
    assert again.json()["ignored_parts"] == {"daily": "already loaded"}  # not fetched again
    assert resumed_floats == 0 and resumed_overviews == 80 - kept
    assert await spoiled_rows(redis, truth) == 0
