"""Scans: generic min/max filters by field name, applied by the gateway (pure + end to end)."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis

from stampede import keys
from stampede.boards import ROW_FIELDS
from stampede.gateway import messages
from stampede.gateway.messages import ProtocolError
from stampede.gateway.rows import FLAG_FIELDS, TEXT_FIELDS
from stampede.gateway.scans import AGE_FIELDS, FILTER_FIELDS, FilterError, Filters, Spec
from support.gateway import DAY, ReferenceClient, publish, row_fields, running_gateway

ROWS = [
    {"sym": "A", "last": 3.0, "change_pct": 25.0, "rvol": 8.0, "hod_time": 100_000},
    {"sym": "B", "last": 3.0, "change_pct": 25.0, "rvol": 2.0, "hod_time": 100_000},
    {"sym": "C", "last": 45.0, "change_pct": 12.0, "rvol": 9.0, "hod_time": 10_000},
    {"sym": "D", "last": 4.0, "change_pct": -6.0, "rvol": 6.0},
    {"sym": "E", "last": 5.0, "change_pct": 11.0, "rvol": 5.0, "hod_time": 95_000},
]


def syms(rows: list[dict]) -> list[str]:
    return [r["sym"] for r in rows]


def test_every_numeric_row_field_is_filterable_by_name():
    assert "price" in FILTER_FIELDS and "last" not in FILTER_FIELDS  # v1 name kept
    numeric = {f for f in ROW_FIELDS if f not in TEXT_FIELDS and f not in FLAG_FIELDS}
    assert numeric - {"last"} <= set(FILTER_FIELDS)
    assert AGE_FIELDS["hod_age_s"] == "hod_time" and AGE_FIELDS["updated_age_s"] == "updated_ms"


def test_bounds_are_inclusive_and_unknown_fields_never_pass():
    runners = Filters.parse({"min_price": 1, "max_price": 20, "min_change_pct": 10, "min_rvol": 5})
    assert syms(Spec("gainers", 10, runners).select(ROWS)) == ["A", "E"]
    losers = Filters.parse({"max_change_pct": -5})  # negative bounds are fine on new fields
    assert syms(Spec("losers", 10, losers).select(ROWS)) == ["D"]
    # D has no hod_time: unknown, so it never passes an age filter
    fresh_high = Filters.parse({"max_hod_age_s": 60})
    assert syms(Spec("new_highs", 10, fresh_high).select(ROWS, now_ms=130_000)) == ["A", "B", "E"]
    assert syms(Spec("new_highs", 10, fresh_high).select(ROWS, now_ms=156_000)) == ["A", "B"]
    assert syms(Spec("gainers", 1, runners).select(ROWS)) == ["A"]  # limit after filtering
    # a high newer than the gateway's feed clock is 0 s old, not -85 s (issue 23, defect 10)
    just_now = Filters.parse({"min_hod_age_s": 0, "max_hod_age_s": 5})
    assert "E" in syms(Spec("new_highs", 10, just_now).select(ROWS, now_ms=10_000))


def test_equal_scans_share_one_spec_and_echo_v1_names():
    a = Filters.parse({"min_price": 1, "min_change_pct": 10, "max_price": None})
    b = Filters.parse({"min_change_pct": 10.0, "min_last": 1})
    assert a == b and hash(Spec("gainers", 5, a)) == hash(Spec("gainers", 5, b))
    assert a.to_wire() == {"min_change_pct": 10.0, "min_price": 1.0}
    assert Filters.parse(a.to_wire()) == a


@pytest.mark.parametrize(
    "wire, words",
    [
        ({"min_colour": 1}, "unknown filter 'min_colour'"),
        ({"above_price": 1}, "unknown filter"),
        ({"min_sym": 1}, "unknown filter"),  # text fields are not numbers
        ({"min_price": -1}, ">= 0"),  # the v1 bounds keep their v1 rule
        ({"min_rvol": 9, "max_rvol": 2}, "min_rvol is above max_rvol"),
        ({"min_rvol": float("inf")}, "finite"),
        ({"min_rvol": True}, "finite number"),
        ({f"{side}_{f}": 1 for f in FILTER_FIELDS[:17] for side in ("min", "max")}, "at most"),
    ],
)
def test_bad_filters_say_what_is_wrong(wire, words):
    with pytest.raises(FilterError, match=words):
        Filters.parse(wire)


def test_a_bad_filter_is_a_bad_request_naming_the_subscription():
    text = '{"type":"subscribe","id":"s1","board":"gainers","filters":{"min_colour":1}}'
    with pytest.raises(ProtocolError) as info:
        messages.parse(text)
    assert info.value.code == "bad_request" and info.value.sub_id == "s1"
    assert "price" in info.value.message  # it lists what can be filtered


@pytest.fixture
async def redis(redis_url):
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


T0 = 1_741_958_400_000  # 2025-03-14 09:20 ET


async def write(redis: aioredis.Redis, rows: dict[str, dict[str, float]], t: int) -> None:
    pipe = redis.pipeline(transaction=True)
    for sym, extra in rows.items():
        last, prev = float(extra.pop("last")), float(extra.pop("prev"))
        fields = row_fields(sym, last, prev, int(extra.pop("volume", 50_000)), t, **extra)
        pipe.hset(keys.row(DAY, sym), mapping=fields)
        pipe.zadd(keys.board(DAY, "gainers"), {sym: float(fields["change_pct"])})
    await pipe.execute()
    await publish(redis, DAY, ["gainers"], t, T0)


async def test_the_gateway_sends_only_rows_that_pass_and_v1_clients_still_work(redis, redis_url):
    universe = {
        f"R{i:02d}": {"last": 2.0 + i % 7, "prev": 2.0, "rvol": i % 9, "hod_time": T0 - 1000 * i}
        for i in range(40)
    }
    await write(redis, {s: dict(v) for s, v in universe.items()}, T0)
    scan = {"min_change_pct": 100, "min_rvol": 5, "max_hod_age_s": 30}
    async with running_gateway(redis_url) as gw, ReferenceClient.connect(gw.ws_url) as client:
        hello = await client.until(lambda m: m["type"] == "hello")
        assert set(hello["fields"]) == set(FILTER_FIELDS)
        await client.subscribe("scan", "gainers", 20, **scan)
        await client.subscribe("v1", "gainers", 20, min_price=5, max_price=6)
        snap = await client.until(lambda m: m["type"] == "snapshot" and m["id"] == "scan")
        assert snap["filters"] == {k: float(v) for k, v in scan.items()}

        view = client.subs["scan"].view
        assert view and all(passing(r, T0) for r in view)
        assert len(view) == sum(1 for s, v in universe.items() if passing(as_row(v), T0))
        # a row that starts to pass arrives as a diff; one that stops passing is removed
        entering = next(s for s, v in universe.items() if not passing(as_row(v), T0))
        leaving = view[0]["sym"]
        await write(
            redis,
            {
                entering: {"last": 9, "prev": 2, "rvol": 7, "hod_time": T0 + 500},
                leaving: {"last": 2.1, "prev": 2, "rvol": 7, "hod_time": T0 + 500},
            },
            T0 + 500,
        )
        diff = await client.until(lambda m: m["type"] == "diff" and m["id"] == "scan")
        assert [a["row"]["sym"] for a in diff["added"]] == [entering]
        assert diff["removed"] == [leaving]
        await client.drain(0.3)
        v1 = client.subs["v1"].view
        assert v1 and all(5 <= r["last"] <= 6 for r in v1)
        # REST takes the same filters as query parameters and returns the same rows
        async with httpx.AsyncClient(base_url=gw.url) as http:
            rest = (await http.get("/api/boards/gainers", params=scan)).json()
            bad = await http.get("/api/boards/gainers", params={"min_colour": 1})
            nan = await http.get("/api/boards/gainers", params={"min_rvol": "nan"})
        assert rest["rows"] == client.subs["scan"].view
        assert bad.status_code == 422 and bad.json()["code"] == "bad_request"
        assert nan.status_code == 422


def as_row(spec: dict[str, float]) -> dict[str, float]:
    return {**spec, "change_pct": (spec["last"] - spec["prev"]) / spec["prev"] * 100}


def passing(row: dict, now_ms: int) -> bool:
    fresh = row.get("hod_time") is not None and (now_ms - row["hod_time"]) / 1000 <= 30
    return row["change_pct"] >= 100 and row.get("rvol", -1) >= 5 and fresh
