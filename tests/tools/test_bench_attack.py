"""The hostile bench's attackers (tools/bench/attack.py) against a real gateway and a real
scoring function: each attack is met by the bound it tests, and the attacker reports what it
saw (the figures `stampede bench --scenario hostile` prints). Small counts and short limits, so
it runs in seconds; the bench runs the issue's counts."""

from __future__ import annotations

import argparse

from stampede.tools import localstack
from stampede.tools.bench import attack
from support.functions import serve_function
from support.gateway import running_gateway

TOKEN = "a-token-for-the-honest-and-the-flooders"


async def test_every_attack_is_refused_by_its_bound(redis_url) -> None:
    async with (
        running_gateway(
            redis_url,
            port=localstack.free_port(),
            gateway_auth="required",
            gateway_token=TOKEN,
            gateway_header_timeout_seconds=1.0,
            gateway_auth_timeout_seconds=1.0,
            gateway_max_clients=20,
        ) as gw,
        serve_function("movers", redis_url, function_event_key="only-the-pipeline") as function,
    ):
        args = argparse.Namespace(
            gateway=gw.url, function=function, token=TOKEN, seconds=6.0, flooders=3,
            slow_headers=5, storm=80, storm_in_flight=40, forged_rate=20.0,
        )  # fmt: skip
        seen = await attack.attack(args)
    assert seen["flooders"]["cut_off"] == 3, seen["flooders"]
    assert seen["flooders"]["cut_off_after_s_max"] < 6.0
    assert seen["slow_headers"]["open_past_15_s"] == 0
    assert 0.9 < seen["slow_headers"]["open_s_max"] < 4.0, seen["slow_headers"]  # the 1 s limit
    outcomes = seen["storm"]["outcomes"]
    assert outcomes.get("too_many_clients", 0) > 0 and outcomes.get("unauthorized", 0) > 0, outcomes
    assert sum(outcomes.values()) == 80
    codes = seen["forged"]["status_codes"]
    assert set(codes) == {"401"} and codes["401"] >= 100, codes  # 20/s for 6 s, all refused
