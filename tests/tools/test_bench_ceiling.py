"""The ceiling report's arithmetic (tools/bench/ceiling.py): CPU per event, one core's rate,
cores for 100k and 250k, single stages' ceilings, the predicted held rate."""

from __future__ import annotations

import pytest

from stampede.tools.bench import ceiling, figures, report


def test_a_stage_costs_its_cpu_per_applied_event_and_replicas_count_together() -> None:
    cpu = {"function-momentum": 30.0, "function-momentum-2": 20.0, "bridge": 10.0, "gateway": 5}
    found = {s.name: s for s in ceiling.stages(cpu, applied_per_s=10_000)}
    momentum = found["function-momentum"]
    assert (momentum.processes, momentum.us_per_event) == (2, pytest.approx(50.0))
    assert momentum.core_rate == pytest.approx(20_000)
    assert [momentum.needed(t) for t in ceiling.TARGETS] == [5, 13]
    assert found["bridge"].single and found["bridge"].core_rate == pytest.approx(100_000)
    assert not found["gateway"].single


def test_the_predicted_rate_is_bounded_by_cores_and_by_the_single_stages() -> None:
    found = ceiling.stages({"function-movers": 60.0, "bridge": 20.0}, applied_per_s=20_000)
    # 30 + 10 us per event: 2 cores hold 50k/s; the bridge alone stops at 100k/s
    assert ceiling.held_on(2, found) == pytest.approx(50_000)
    assert ceiling.held_on(64, found) == pytest.approx(100_000)
    text = "\n".join(ceiling.lines({"function-movers": 60.0, "bridge": 20.0}, 20_000, (2, 64)))
    assert "function-movers: 30.0 us, 33,333/s; needs 3 / 8" in text
    assert "bridge: 10.0 us, 100,000/s; single: stops at 100,000/s" in text
    assert "2 cores 50,000/s, 64 cores 100,000/s" in text


def test_the_busiest_function_counts_its_replicas_together() -> None:
    cpu = {"function-movers": 40.0, "function-momentum": 30.0, "function-momentum-2": 25.0}
    assert ceiling.busiest_function({**cpu, "redis-server": 90.0}) == "momentum"
    with pytest.raises(ValueError):
        ceiling.busiest_function({"redis-server": 90.0})


def test_each_replica_gets_its_delivery_share_and_cpu_per_event() -> None:
    cpu = {"function-momentum": 30.0, "function-momentum-2": 10.0, "function-movers": 5.0}
    deliveries = {"function-momentum": 75.0, "function-momentum-2": 25.0, "function-movers": 9.0}
    first, second = ceiling.replicas("momentum", cpu, deliveries, applied_per_s=20_000)
    # 15,000 events/s at 30 % of a core = 20 us each; 5,000 at 10 % = 20 us
    assert (first.process, first.share, first.us_per_event) == (
        "function-momentum",
        pytest.approx(0.75),
        pytest.approx(20.0),
    )
    assert (second.process, second.share, second.us_per_event) == (
        "function-momentum-2",
        pytest.approx(0.25),
        pytest.approx(20.0),
    )
    idle = ceiling.replicas("momentum", cpu, {"function-momentum": 5.0}, 1_000)[1]
    assert idle.share == 0 and idle.us_per_event is None
    redis = ceiling.redis_us_per_event({"redis-0": 50.0, "redis-replica": 10.0, "sim": 9}, 20_000)
    assert redis == pytest.approx(30.0)


def _rung(primaries: int, replicas: int, applied: float, p99: float, held: bool) -> dict:
    processes = ["function-momentum"] + [f"function-momentum-{i}" for i in range(2, replicas + 1)]
    return {
        "store": {"redis_primaries": primaries, "replicas": {"momentum": replicas}},
        "offered_events_per_s": 20_000,
        "throughput_per_s": {"functions_applied": applied},
        "applied_per_s_by_function": {"momentum": applied / 2, "movers": applied / 2},
        "tail_board_write_p99_s": p99,
        "strict": {"held": held},
        "cpu_percent": {"redis-server": 60.0, "function-movers": 10.0}
        | {p: 40.0 / replicas for p in processes},
        "deliveries_per_s_by_process": {p: 10.0 for p in processes},
    }


def test_the_scale_section_prints_a_row_per_rung_with_each_replica() -> None:
    rungs = [_rung(1, 1, 12_000, 0.9, False), _rung(1, 2, 20_000, 0.3, True)]
    text = "\n".join(report.scale_section({"market": rungs}))
    assert "market: busiest function momentum" in text
    one, two = text.splitlines()[-2:]
    # 60 % of a core over 12,000 events/s = 50 us; 40 % over 6,000 momentum events/s = 66.7 us
    assert one.split()[:8] == ["1", "1", "20.0k", "12.0k", "60.0%", "900ms", "no", "50.0"]
    assert "100% 40% 66.7" in one
    assert two.split()[:8] == ["1", "2", "20.0k", "20.0k", "100.0%", "300ms", "yes", "30.0"]
    assert "50% 20% 40.0; 50% 20% 40.0" in two  # 20 % of a core over 5,000 events/s each


def test_the_gateway_cost_is_its_cpu_per_tick_and_per_changed_row() -> None:
    cost = figures.gateway_cost(cpu_percent=20.0, ticks_per_s=10.0, rows_per_s=400.0)
    # 0.2 s of CPU a second over 10 ticks = 20 ms each; over 400 rows = 500 us each
    assert cost == {
        "ticks_per_s": 10.0,
        "changed_rows_per_s": 400.0,
        "cpu_us_per_tick": 20_000.0,
        "cpu_us_per_changed_row": 500.0,
    }
    assert figures.gateway_cost(None, 10.0, 0.0)["cpu_us_per_tick"] is None
