"""The ceiling report's arithmetic (tools/bench/ceiling.py): CPU per event, one core's rate,
cores for 100k and 250k, single stages' ceilings, the predicted held rate."""

from __future__ import annotations

import pytest

from stampede.tools.bench import ceiling


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
